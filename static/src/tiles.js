// The classroom page's tiles: one per member (teachers first), each with the member's video
// or, when there is none, the member's name; the shared screens on the stage. A tile says in
// words what its video is doing (`data-video`): connecting, retrying, paused by the room's
// last-N, not available; a member who publishes the microphone alone, or nothing, shows the
// name, never a black box. Media elements are kept across renders (moving one pauses it, so
// each is played again) and a stream's audio plays from its element even while the video is
// hidden. For teachers each other member's tile has the hard controls (`tools`), and every tile
// a pin (room-layout.js StageView); the big tile (`data-big`, pinned or the active speaker) comes
// first in the grid and spans it.

import { MuteKinds } from './protocol.js';
import { h as el } from './dom.js';

const ROLE_ORDER = { teacher: 0, student: 1, visitor: 2 };
const NOTES = {
  connecting: 'room.video_connecting', retrying: 'room.video_retrying', refused: 'room.video_refused',
  paused: 'room.video_paused',
};

export class Tiles {
  #elements = new Map(); // stream id or 'local' / 'local-screen' -> <video>

  /**
   * @param {{t: any, state: object, subs: import('./subscriptions.js').Subscriptions,
   *   publisher: import('./publishing.js').Publisher, tools: (member: object) => Node | null,
   *   view: import('./room-layout.js').StageView}} options
   */
  constructor(options) {
    Object.assign(this, options);
  }

  #video(key, media, local) {
    let video = this.#elements.get(key);
    if (!video) {
      video = el('video', { autoplay: true, playsinline: true, 'data-stream': key });
      this.#elements.set(key, video);
    }
    video.muted = local;
    if (video.srcObject !== media) video.srcObject = media;
    return video;
  }

  /**
   * A member's camera: `{video, state}`, state one of none (nothing published), audio (the
   * microphone alone), connecting, live, paused, retrying, refused; the element plays the
   * audio whatever the state.
   */
  #camera(member) {
    const { state, subs, publisher } = this;
    if (member.id === state.me?.id) {
      const media = publisher.camera?.media;
      if (!media) return { video: null, state: 'none' };
      const live = media.getVideoTracks().length > 0;
      return { video: live ? this.#video('local', media, true) : null, state: live ? 'live' : 'audio' };
    }
    const info = [...state.streams.values()].find((s) => s.user === member.id && s.source === 'camera');
    const view = info && subs.view(info.stream);
    if (!view) return { video: null, state: 'none' };
    const video = view.media ? this.#video(info.stream, view.media, false) : null;
    if (view.state !== 'live') return { video, state: view.state };
    if (!view.media?.getVideoTracks().length) return { video, state: 'audio' };
    return { video, state: view.paused ? 'paused' : 'live' };
  }

  #pinButton(member) {
    const pinned = this.view.pinned === member.id;
    const button = el('button', { type: 'button', class: 'pin', 'aria-pressed': String(pinned) },
      this.t.t('room.pin', { name: member.name }));
    button.addEventListener('click', () => this.view.pin(member.id));
    return button;
  }

  render() {
    const { t, state } = this;
    const members = [...state.members.values()].sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3));
    const grid = document.getElementById('grid');
    const focused = document.activeElement;
    const focusedAt = focused?.closest?.('.tile') ? [...focused.closest('.tile').querySelectorAll('button')].indexOf(focused) : -1;
    const used = new Set();
    const big = this.view.big();
    const teacher = state.me?.role === 'teacher';
    grid.classList.toggle('has-big', big !== null);
    const tiles = members.map((member) => {
      const mine = member.id === state.me?.id;
      const name = mine ? t.t('room.you', { name: member.name }) : member.name;
      const camera = this.#camera(member);
      if (camera.video) used.add(camera.video);
      const showsVideo = camera.state === 'live';
      camera.video?.classList.toggle('hidden-video', !showsVideo);
      return el('li', {
        class: 'tile', 'data-user': member.id, 'data-hand': String(Boolean(member.hand)), 'data-video': camera.state,
        'data-big': String(member.id === big),
      },
      camera.video,
      showsVideo ? null : el('p', { class: 'no-video', 'aria-hidden': 'true' }, member.name),
      NOTES[camera.state] ? el('p', { class: 'video-note' }, t.t(NOTES[camera.state])) : null,
      el('span', { class: 'name' }, name, ' · ', t.t(`role.${member.role}`),
        member.school ? el('span', { class: 'school', title: t.t('school.badge', { school: member.school }) },
          ' · ', String(member.school)) : null),
      teacher ? this.#pinButton(member) : null,
      this.tools(member));
    });
    const first = tiles.findIndex((tile) => tile.dataset.big === 'true');
    if (first > 0) tiles.unshift(...tiles.splice(first, 1));
    grid.replaceChildren(...tiles);
    const screens = [];
    for (const info of state.streams.values()) {
      if (info.source !== 'screen') continue;
      const mine = info.user === state.me?.id;
      const media = mine ? this.publisher.screen?.media : this.subs.view(info.stream)?.media;
      if (!media) continue;
      const video = this.#video(mine ? 'local-screen' : info.stream, media, mine);
      video.setAttribute('aria-label', t.t('room.screen_of', { name: state.members.get(info.user)?.name ?? info.user }));
      used.add(video);
      screens.push(video);
    }
    document.getElementById('screens').replaceChildren(...screens);
    document.getElementById('stage').hidden = screens.length === 0;
    for (const [key, video] of this.#elements) {
      if (!used.has(video)) {
        video.srcObject = null;
        this.#elements.delete(key);
      } else if (video.paused) video.play().catch(() => {});
    }
    if (focused && focused !== document.body && !focused.isConnected) {
      const user = focused.closest?.('[data-user]')?.dataset.user;
      const tile = grid.querySelector(`[data-user="${CSS.escape(user ?? '')}"]`);
      const buttons = tile?.querySelectorAll('button') ?? [];
      (buttons[focusedAt] ?? buttons[0])?.focus(); // the same button as before, e.g. a mute toggle
    }
  }
}

/** A teacher's hard controls on another member's tile. */
export function teacherTools({ t, state, client, room, act }) {
  const button = (label, pressed, onClick) => {
    const b = el('button', { type: 'button', 'aria-pressed': pressed === null ? null : String(pressed) }, label);
    b.addEventListener('click', onClick);
    return b;
  };
  return (member) => {
    if (state.me?.role !== 'teacher' || member.id === state.me.id) return null;
    const box = el('div', { class: 'tools' });
    const kinds = state.mutes[member.id] ?? [];
    if (member.role !== 'teacher') {
      for (const [what, key] of [[MuteKinds.AUDIO, 'room.mute_audio'], [MuteKinds.VIDEO, 'room.mute_video']]) {
        const muted = kinds.includes(what);
        box.append(button(t.t(key, { name: member.name }), muted, () => act(client.mute(room, member.id, what, !muted))));
      }
    }
    for (const info of state.streams.values()) {
      if (info.user === member.id && info.source === 'screen') {
        box.append(button(t.t('room.stop_share', { name: member.name }), null, () => act(client.rtcUnpublish(info.stream))));
      }
    }
    if (member.role !== 'teacher') {
      box.append(button(t.t('room.kick', { name: member.name }), null, () => act(client.kick(room, member.id))));
    }
    return box;
  };
}
