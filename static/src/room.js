// The classroom page, /room/R#token=…: a video grid, the shared screen large, mic / camera /
// share toggles, raise hand, the chat and polls widget on the side, and for teachers the hard
// controls per tile (mute microphone or camera, stop a share, remove) and the room's media
// settings (last-N, who may publish, who sees pupils' cameras).
//
// The token is read from the URL fragment only and wiped from the address bar; the tab keeps it
// in sessionStorage, so a reload keeps the session, and it is renewed through the window that
// opened the page (session.js, page.js keepSession). User data enters
// the DOM as text only. `window.twinspaceRoom` exposes the page's state (its peer connections
// included) for tests and debugging.

import './twinspace-chat.js';
import { LiveClient, LocalEvents, MuteKinds, ServerEvents } from './protocol.js';
import { h as el } from './dom.js';
import { decodeToken } from './token.js';
import { languageCandidates, loadTranslator } from './i18n.js';
import { publish, subscribe } from './room-rtc.js';
import { pageVoice } from './page.js';
import { pageToken } from './session.js';

const $ = (id) => document.getElementById(id);
const SESSION_OVER = new Set(['expired', 'unauthorized']);



const room = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const token = pageToken();
const claims = decodeToken(token);
const t = await loadTranslator(languageCandidates({ claim: claims?.lang }));
const { alertText, reason, announce, showConnection, keepSession } = pageVoice(t);
document.documentElement.lang = t.lang;
document.documentElement.dir = t.dir;
for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t.t(node.dataset.i18n);
document.title = t.t('room.title', { room });
$('title').textContent = document.title;

const ROLE_ORDER = { teacher: 0, student: 1, visitor: 2 };
const state = {
  room,
  me: null,
  members: new Map(),
  mutes: {},
  settings: null,
  streams: new Map(), // stream id -> {room, stream, user, source}
  subs: new Map(), // stream id -> {id, pc, media} (a pending subscription holds null)
  camera: null, // {id, pc, media, source} of my camera
  screen: null,
  mic: false,
  cam: false,
  hand: false,
};
window.twinspaceRoom = state;
const videos = new Map(); // stream id or 'local' -> <video>


async function act(promise) {
  try {
    $('alert').hidden = true;
    return await promise;
  } catch (error) {
    // a refused or ended session: the connection's own alert says so (page.js)
    if (!SESSION_OVER.has(error?.code)) alertText('console.failed', { reason: reason(error) });
    return null;
  }
}

if (!claims || !room) {
  alertText(claims ? 'notice.no_room' : 'notice.no_token');
} else {
  start();
}

function start() {
  $('main').hidden = false;
  const client = new LiveClient({ token, url: location.origin });
  const here = (handler) => (detail) => {
    if (detail?.room === room) handler(detail);
  };
  showConnection(client);
  client.on(LocalEvents.JOINED, (detail) => { if (detail.room === room && detail.rejoined) load(detail.ack); });
  client.on(ServerEvents.PRESENCE_JOIN, here(({ member }) => {
    state.members.set(member.id, member);
    announce('room.joined', { name: member.name });
    render();
  }));
  client.on(ServerEvents.PRESENCE_LEAVE, here(({ user }) => {
    const member = state.members.get(user);
    state.members.delete(user);
    if (member) announce('room.left', { name: member.name });
    render();
  }));
  client.on(ServerEvents.PRESENCE_UPDATE, here(({ member }) => { state.members.set(member.id, member); render(); }));
  client.on(ServerEvents.RTC_STREAM, here((info) => addStream(info)));
  client.on(ServerEvents.RTC_ENDED, here(({ stream }) => endStream(stream)));
  client.on(ServerEvents.ROOM_SETTINGS, here((settings) => { state.settings = settings; renderSettings(); }));
  client.on(ServerEvents.MOD_MUTED, here(({ user, kinds }) => {
    state.mutes[user] = kinds ?? [];
    if (user === state.me?.id) mutedMe(kinds ?? []);
    render();
  }));
  client.on(ServerEvents.MOD_KICKED, here(({ user }) => {
    if (user !== state.me?.id) return;
    stopAll();
    alertText('notice.kicked');
  }));
  client.connect();

  const chat = document.createElement('twinspace-chat');
  chat.setAttribute('room', room);
  chat.token = token;
  // the page asks for a fresh token for both connections, and hands it to the chat
  chat.addEventListener(LocalEvents.TOKEN_EXPIRING, (event) => event.preventDefault());
  keepSession(client, (fresh) => { chat.token = fresh; });
  $('chat-slot').append(chat);

  controls(client);
  act(client.join(room)).then((ack) => { if (ack) load(ack); });

  function load(ack) {
    state.me = ack.you;
    state.members = new Map(ack.members.map((m) => [m.id, m]));
    state.mutes = { ...(ack.mutes ?? {}) };
    state.settings = ack.media ?? state.settings;
    const live = new Set((ack.streams ?? []).map((s) => s.stream));
    for (const id of [...state.streams.keys()]) if (!live.has(id)) endStream(id);
    for (const info of ack.streams ?? []) addStream(info);
    $('settings').hidden = state.me.role !== 'teacher';
    for (const id of ['mic', 'cam', 'share']) $(id).hidden = state.me.role === 'visitor';
    renderSettings();
    render();
  }

  function addStream(info) {
    state.streams.set(info.stream, info);
    const mine = info.user === state.me?.id;
    if (!mine && !state.subs.has(info.stream)) {
      state.subs.set(info.stream, null);
      subscribe(client, room, info.stream, (media) => show(info.stream, media, false))
        .then((sub) => {
          if (state.streams.has(info.stream)) state.subs.set(info.stream, sub);
          else closeSub(sub);
        })
        .catch((error) => {
          state.subs.delete(info.stream);
          // pupils' cameras may be for teachers only: not an error to show
          if (error?.code !== 'forbidden' && error?.code !== 'not_found') alertText('console.failed', { reason: reason(error) });
        });
    }
    render();
  }

  function endStream(id) {
    const info = state.streams.get(id);
    state.streams.delete(id);
    const sub = state.subs.get(id);
    state.subs.delete(id);
    if (sub) closeSub(sub);
    videos.delete(id);
    for (const source of ['camera', 'screen']) {
      if (state[source]?.id === id) {
        stopLocal(source);
        if (source === 'screen') announce('room.share_stopped');
      }
    }
    if (info) render();
  }

  function closeSub(sub) {
    sub.pc.close();
    client.rtcUnsubscribe(sub.id).catch(() => {});
  }

  function mutedMe(kinds) {
    if (kinds.includes(MuteKinds.AUDIO) && state.mic) {
      setMic(false);
      announce('room.muted_audio');
    }
    if (kinds.includes(MuteKinds.VIDEO) && state.cam) {
      setCam(false);
      announce('room.muted_video');
    }
  }

  function setMic(on) {
    state.mic = on;
    for (const track of state.camera?.media.getAudioTracks() ?? []) track.enabled = on;
    $('mic').setAttribute('aria-pressed', String(on));
  }

  function setCam(on) {
    state.cam = on;
    for (const track of state.camera?.media.getVideoTracks() ?? []) track.enabled = on;
    $('cam').setAttribute('aria-pressed', String(on));
  }

  function stopLocal(source) {
    const pub = state[source];
    if (!pub) return;
    state[source] = null;
    pub.pc.close();
    for (const track of pub.media.getTracks()) track.stop();
    if (source === 'camera') {
      setMic(false);
      setCam(false);
      videos.delete('local');
    } else {
      $('share').setAttribute('aria-pressed', 'false');
      videos.delete('local-screen');
    }
    render();
  }

  async function unpublish(source) {
    const pub = state[source];
    if (!pub) return;
    stopLocal(source);
    await client.rtcUnpublish(pub.id).catch(() => {});
  }

  function stopAll() {
    stopLocal('camera');
    stopLocal('screen');
    for (const id of [...state.streams.keys()]) endStream(id);
  }

  async function startCamera() {
    const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    try {
      state.camera = await publish(client, room, 'camera', media);
    } catch (error) {
      for (const track of media.getTracks()) track.stop();
      throw error;
    }
    show('local', media, true);
  }

  function controls() {
    const toggleMedia = async (which) => {
      const turnOn = which === 'mic' ? !state.mic : !state.cam;
      try {
        $('alert').hidden = true;
        if (turnOn && !state.camera) {
          await startCamera();
          setMic(which === 'mic' || state.mic);
          setCam(which === 'cam' || state.cam);
        } else if (which === 'mic') setMic(turnOn);
        else setCam(turnOn);
        if (!state.mic && !state.cam) await unpublish('camera');
      } catch (error) {
        console.warn('media failed:', error?.name, error?.message);
        alertText(error?.code ? 'console.failed' : 'room.media_error', { reason: reason(error) });
      }
      render();
    };
    $('mic').addEventListener('click', () => toggleMedia('mic'));
    $('cam').addEventListener('click', () => toggleMedia('cam'));
    $('share').addEventListener('click', async () => {
      if (state.screen) {
        await unpublish('screen');
        return;
      }
      try {
        $('alert').hidden = true;
        const media = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        try {
          state.screen = await publish(client, room, 'screen', media);
        } catch (error) {
          for (const track of media.getTracks()) track.stop();
          throw error;
        }
        media.getVideoTracks()[0]?.addEventListener('ended', () => unpublish('screen'));
        $('share').setAttribute('aria-pressed', 'true');
        show('local-screen', media, true);
      } catch (error) {
        console.warn('media failed:', error?.name, error?.message);
        alertText(error?.code ? 'console.failed' : 'room.media_error', { reason: reason(error) });
      }
    });
    $('hand').addEventListener('click', async () => {
      const raised = !state.hand;
      if (await act(client.hand(room, raised))) {
        state.hand = raised;
        $('hand').setAttribute('aria-pressed', String(raised));
      }
    });
    $('settings').addEventListener('submit', async (event) => {
      event.preventDefault();
      const ack = await act(client.rtcSettings(room, {
        last_n: Number($('last-n').value),
        teachers_only_publish: $('teachers-only').checked,
        pupil_cameras_teachers_only: $('pupil-cameras').checked,
      }));
      if (ack) { state.settings = ack.settings; renderSettings(); }
    });
  }

  function show(key, media, local) {
    let video = videos.get(key);
    if (!video) {
      video = el('video', { autoplay: true, playsinline: true, 'data-stream': key });
      videos.set(key, video);
    }
    video.muted = local;
    if (video.srcObject !== media) video.srcObject = media;
    video.play?.().catch(() => {});
    render();
  }

  function renderSettings() {
    const s = state.settings;
    if (!s) return;
    $('last-n').value = String(s.last_n);
    $('teachers-only').checked = Boolean(s.teachers_only_publish);
    $('pupil-cameras').checked = Boolean(s.pupil_cameras_teachers_only);
  }

  function toolButton(label, pressed, onClick) {
    const button = el('button', { type: 'button', 'aria-pressed': pressed === null ? null : String(pressed) }, label);
    button.addEventListener('click', onClick);
    return button;
  }

  function tools(member) {
    if (state.me?.role !== 'teacher' || member.id === state.me.id) return null;
    const box = el('div', { class: 'tools' });
    const kinds = state.mutes[member.id] ?? [];
    if (member.role !== 'teacher') {
      for (const [what, key] of [[MuteKinds.AUDIO, 'room.mute_audio'], [MuteKinds.VIDEO, 'room.mute_video']]) {
        const muted = kinds.includes(what);
        box.append(toolButton(t.t(key, { name: member.name }), muted, () => act(client.mute(room, member.id, what, !muted))));
      }
    }
    for (const info of state.streams.values()) {
      if (info.user === member.id && info.source === 'screen') {
        box.append(toolButton(t.t('room.stop_share', { name: member.name }), null, () => act(client.rtcUnpublish(info.stream))));
      }
    }
    if (member.role !== 'teacher') {
      box.append(toolButton(t.t('room.kick', { name: member.name }), null, () => act(client.kick(room, member.id))));
    }
    return box;
  }

  function render() {
    const members = [...state.members.values()].sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3));
    const grid = $('grid');
    const focused = document.activeElement;
    const tiles = members.map((member) => {
      const mine = member.id === state.me?.id;
      const camera = [...state.streams.values()].find((s) => s.user === member.id && s.source === 'camera');
      const video = mine ? (state.camera ? videos.get('local') : null) : camera && videos.get(camera.stream);
      const name = mine ? t.t('room.you', { name: member.name }) : member.name;
      return el('li', { class: 'tile', 'data-user': member.id, 'data-hand': String(Boolean(member.hand)) },
        video ?? el('p', { class: 'no-video' }, t.t('room.no_video')),
        el('span', { class: 'name' }, name, ' · ', t.t(`role.${member.role}`),
          member.school ? el('span', { class: 'school', title: t.t('school.badge', { school: member.school }) },
            ' · ', String(member.school)) : null),
        tools(member));
    });
    grid.replaceChildren(...tiles);
    const screens = [];
    for (const info of state.streams.values()) {
      if (info.source !== 'screen') continue;
      const mine = info.user === state.me?.id;
      const video = mine ? videos.get('local-screen') : videos.get(info.stream);
      if (!video) continue;
      video.setAttribute('aria-label', t.t('room.screen_of', { name: state.members.get(info.user)?.name ?? info.user }));
      screens.push(video);
    }
    $('screens').replaceChildren(...screens);
    $('stage').hidden = screens.length === 0;
    for (const video of videos.values()) if (video.isConnected && video.paused) video.play().catch(() => {});
    if (focused && focused !== document.body && !focused.isConnected) {
      const user = focused.closest?.('[data-user]')?.dataset.user;
      grid.querySelector(`[data-user="${CSS.escape(user ?? '')}"] button`)?.focus();
    }
  }
}
