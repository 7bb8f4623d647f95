// The classroom page, /room/R#token=…: a video grid, the shared screen large, mic / camera /
// share toggles, one raise-hand button, Leave, the chat and polls widget on the side, and for
// teachers the hard controls per tile (mute microphone or camera, stop a share, remove) and
// the room's media settings (last-N, who may publish, who sees pupils' cameras).
//
// The parts: devices.js (camera and microphone choice, the preview before joining the call),
// publishing.js (what I publish, kept alive), subscriptions.js (what I watch, kept alive),
// tiles.js (the grid and the stage), end-screen.js (left, removed, lesson ended). After the
// connection comes back the page publishes and subscribes again by itself; a teacher's hard
// mute shows on my microphone or camera button with the reason until it is lifted.
//
// The token is read from the URL fragment only and wiped from the address bar; the tab keeps it
// in sessionStorage, so a reload keeps the session, and it is renewed through the window that
// opened the page (session.js, page.js keepSession). User data enters
// the DOM as text only. `window.twinspaceRoom` exposes the page's state (its peer connections
// included) for tests and debugging.

import './twinspace-chat.js';
import { LiveClient, LocalEvents, MuteKinds, ServerEvents } from './protocol.js';
import { roomLesson } from './room-lesson.js';
import { h as el } from './dom.js';
import { decodeToken } from './token.js';
import { languageCandidates, loadTranslator } from './i18n.js';
import { pageVoice } from './page.js';
import { FeedbackBar } from './room-feedback.js';
import { GroupsPanel, followMoves } from './room-groups.js';
import { pageToken } from './session.js';
import { Devices, prejoinPanel } from './devices.js';
import { Publisher } from './publishing.js';
import { Subscriptions } from './subscriptions.js';
import { Tiles, teacherTools } from './tiles.js';
import { ChatDrawer, StageView } from './room-layout.js';
import { EndReasons, endScreenControls, showEndScreen } from './end-screen.js';

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
for (const node of document.querySelectorAll('[data-i18n-label]')) node.setAttribute('aria-label', t.t(node.dataset.i18nLabel));
document.title = t.t('room.title', { room });
$('title').textContent = document.title;

const state = {
  room,
  me: null,
  members: new Map(),
  mutes: {},
  settings: null,
  iceServers: [],
  streams: new Map(), // stream id -> {room, stream, user, source}
  hand: false,
  over: false, // left, removed or the lesson ended
};
window.twinspaceRoom = state;

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
  const iceServers = () => state.iceServers;
  const mediaFailed = (error) => {
    console.warn('media failed:', error?.name, error?.code, error?.message);
    alertText(error?.code ? 'console.failed' : 'room.media_error', { reason: reason(error) });
  };
  const subs = new Subscriptions({ client, room, iceServers, onChange: () => render() });
  const devices = new Devices();
  const publisher = new Publisher({
    client, room, devices, iceServers, onChange: () => render(), onError: mediaFailed,
    onScreenEnded: () => announce('room.share_stopped'),
  });
  const view = new StageView({ button: $('speaker-view'), state, subs, onChange: () => render() });
  new ChatDrawer({ toggle: $('chat-toggle'), close: $('chat-close'), panel: $('side') });
  const tiles = new Tiles({ t, state, subs, publisher, view, tools: teacherTools({ t, state, client, room, act }) });
  Object.defineProperties(state, {
    client: { value: client },
    subs: { get: () => subs.legs }, // stream id -> {id, pc, media} (null while none is up)
    camera: { get: () => publisher.camera }, // {id, pc, media, source} of my camera stream
    screen: { get: () => publisher.screen },
    mic: { get: () => publisher.mic },
    cam: { get: () => publisher.cam },
  });
  const here = (handler) => (detail) => {
    if (detail?.room === room && !state.over) handler(detail);
  };
  showConnection(client);
  client.on(LocalEvents.JOINED, (detail) => {
    if (detail.room !== room || !detail.rejoined || state.over) return;
    load(detail.ack);
    // the service may have ended my legs with the connection: start them all again
    subs.restartAll();
    publisher.republishAll();
  });
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
  client.on(ServerEvents.PRESENCE_UPDATE, here(({ member }) => {
    state.members.set(member.id, member);
    if (member.id === state.me?.id) setHand(Boolean(member.hand));
    render();
  }));
  client.on(ServerEvents.RTC_STREAM, here((info) => addStream(info)));
  client.on(ServerEvents.RTC_ENDED, here(({ stream, reason: why }) => {
    publisher.ended(stream, why);
    endStream(stream);
  }));
  client.on(ServerEvents.RTC_PAUSED, here(({ user, stream, paused }) => {
    if (user === state.me?.id) subs.setPaused(stream, Boolean(paused));
  }));
  client.on(ServerEvents.ROOM_SETTINGS, here((settings) => {
    state.settings = settings;
    renderSettings();
    subs.retryRefused(); // a stream refused under the old settings may be mine to see now
  }));
  client.on(ServerEvents.MOD_MUTED, here(({ user, kinds }) => {
    state.mutes[user] = kinds ?? [];
    if (user === state.me?.id) mutedMe(kinds ?? []);
    render();
  }));
  client.on(ServerEvents.MOD_KICKED, here(({ user }) => {
    if (user === state.me?.id) over(EndReasons.KICKED);
  }));
  client.on(ServerEvents.ROOM_ENDED, here(() => over(EndReasons.ENDED)));
  client.connect();

  const chat = document.createElement('twinspace-chat');
  chat.setAttribute('room', room);
  chat.setAttribute('no-hand', ''); // the page's own raise-hand button is the one
  chat.token = token;
  // the page asks for a fresh token for both connections, and hands it to the chat
  chat.addEventListener(LocalEvents.TOKEN_EXPIRING, (event) => event.preventDefault());
  keepSession(client, (fresh) => { chat.token = fresh; });
  $('chat-slot').append(chat);

  const prejoin = prejoinPanel({
    devices, t,
    onJoin: ({ camera, mic }) => publisher.start({ mic, cam: camera }),
  });
  controls();
  endScreenControls();
  const feedback = new FeedbackBar({ el: $('feedback'), client, room, t, announce, act });
  const followed = followMoves({ client, room, chat });
  const groups = new GroupsPanel({ el: $('groups'), client, room, t, members: () => state.members, announce, act });
  let prejoinOffered = false;
  const lesson = roomLesson({
    client, room, t, alertText, announce, act,
    onJoined: (ack) => {
      load(ack);
      if (prejoinOffered || state.me.role === 'visitor') return;
      prejoinOffered = true; // once: a pupil let in from the lobby joins only then
      prejoin.open();
    },
    onEnded: () => over(EndReasons.ENDED),
  });
  lesson.enter();

  function load(ack) {
    lesson.load(ack);
    state.me = ack.you;
    state.iceServers = Array.isArray(ack.ice_servers) ? ack.ice_servers : [];
    feedback.load(ack);
    groups.load(ack);
    followed(ack);
    state.members = new Map(ack.members.map((m) => [m.id, m]));
    state.mutes = { ...(ack.mutes ?? {}) };
    state.settings = ack.media ?? state.settings;
    const live = new Set((ack.streams ?? []).map((s) => s.stream));
    for (const id of [...state.streams.keys()]) if (!live.has(id)) endStream(id);
    for (const info of ack.streams ?? []) addStream(info);
    setHand(Boolean(state.members.get(state.me.id)?.hand));
    publisher.setHardMuted(state.mutes[state.me.id] ?? []);
    $('settings').hidden = state.me.role !== 'teacher';
    for (const id of ['mic', 'cam', 'share', 'devices']) $(id).hidden = state.me.role === 'visitor';
    renderSettings();
    render();
  }

  function addStream(info) {
    state.streams.set(info.stream, info);
    if (info.user !== state.me?.id) subs.add(info.stream);
    render();
  }

  function endStream(id) {
    const known = state.streams.delete(id);
    subs.remove(id);
    if (known) render();
  }

  function mutedMe(kinds) {
    const before = publisher.hardMuted;
    publisher.setHardMuted(kinds);
    for (const [what, on, off] of [[MuteKinds.AUDIO, 'room.muted_audio', 'room.unmuted_audio'],
      [MuteKinds.VIDEO, 'room.muted_video', 'room.unmuted_video']]) {
      if (publisher.hardMuted[what] !== before[what]) announce(publisher.hardMuted[what] ? on : off);
    }
  }

  function setHand(raised) {
    state.hand = raised;
    $('hand').setAttribute('aria-pressed', String(raised));
  }

  function over(reasonKey) {
    if (state.over) return;
    state.over = true;
    prejoin.close();
    publisher.stopAll();
    subs.clear();
    chat.remove();
    client.close();
    showEndScreen({ t, reasonKey });
  }

  function controls() {
    const toggle = (set, on) => {
      $('alert').hidden = true;
      prejoin.close();
      set(on);
    };
    $('mic').addEventListener('click', () => {
      if (!publisher.hardMuted.audio) toggle((on) => publisher.setMic(on), !publisher.mic);
    });
    $('cam').addEventListener('click', () => {
      if (!publisher.hardMuted.video) toggle((on) => publisher.setCam(on), !publisher.cam);
    });
    $('share').addEventListener('click', async () => {
      if (publisher.screen) {
        publisher.setScreen(null);
        return;
      }
      $('alert').hidden = true;
      const media = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }).catch((error) => {
        mediaFailed(error);
        return null;
      });
      if (media) publisher.setScreen(media);
    });
    $('hand').addEventListener('click', async () => {
      const raised = !state.hand;
      if (await act(client.hand(room, raised))) setHand(raised);
    });
    $('leave').addEventListener('click', async () => {
      await act(client.leave(room));
      over(EndReasons.LEFT);
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

  function renderSettings() {
    const s = state.settings;
    if (!s) return;
    $('last-n').value = String(s.last_n);
    $('teachers-only').checked = Boolean(s.teachers_only_publish);
    $('pupil-cameras').checked = Boolean(s.pupil_cameras_teachers_only);
  }

  /** My microphone and camera buttons: pressed when on; held off, with why, while muted. */
  function renderControls() {
    const notes = [];
    for (const [id, what, key, label, on] of [
      ['mic', 'audio', 'room.mic_locked', 'room.mic', publisher.mic],
      ['cam', 'video', 'room.cam_locked', 'room.camera', publisher.cam]]) {
      const button = $(id);
      const held = publisher.hardMuted[what];
      button.setAttribute('aria-pressed', String(on));
      button.setAttribute('aria-disabled', String(held));
      button.textContent = t.t(held ? key : label);
      if (held) {
        button.title = t.t(key);
        button.setAttribute('aria-describedby', 'media-note');
        notes.push(t.t(key));
      } else {
        button.removeAttribute('title');
        button.removeAttribute('aria-describedby');
      }
    }
    $('media-note').textContent = notes.join(' ');
    $('media-note').hidden = notes.length === 0;
    $('share').setAttribute('aria-pressed', String(Boolean(publisher.screen)));
  }

  function render() {
    if (state.over) return;
    renderControls();
    tiles.render();
  }
}
