// Breakout rooms on the classroom page (docs/protocol.md "Breakout rooms").
//
// Everyone: when the service moves the user (`room:moved` from this room, or a join ack saying
// the user's group works elsewhere), the page goes to /room/<to> in the same tab, its token kept
// for that page (session.js). The chat inside the page does not move by itself.
// Teachers: in a main room, a panel splits the pupils present into groups (with an optional
// timer) at random, mixing schools or by hand (a select per pupil, listing the pupils present
// when "by hand" is chosen; group-split.js), then lists the groups with a button to visit each, a message to every group
// and a button to bring everyone back, and a select per member to move them to another group
// (`mod:move`); in a group's room, the same message and buttons back to
// the main room and to bring everyone back.

import { ServerEvents } from './protocol.js';
import { h } from './dom.js';
import { keepToken } from './session.js';
import { dealGroups, handGroups, mixSchools } from './group-split.js';

const roomPath = (name) => `/room/${encodeURIComponent(name)}`;

// The page this tab is already going to: a move heard from the service (`room:moved`) and
// the teacher's own "bring everyone back" may both ask for it, and a second `assign` of the
// same page would abort the first navigation.
let leavingFor = null;

/** Go to room `to`'s page in this tab, with this session's token (once per page). */
export function goToRoom(client, to) {
  const path = roomPath(to);
  if (leavingFor === path) return;
  leavingFor = path;
  keepToken(client.token, path);
  location.assign(path);
}

/** Follow the service's moves away from `room`; returns `load(ack)` for each join ack. */
export function followMoves({ client, room, chat }) {
  chat.addEventListener('moved', (event) => event.preventDefault());
  client.on(ServerEvents.ROOM_MOVED, (detail) => {
    if (detail?.from === room && typeof detail.to === 'string') goToRoom(client, detail.to);
  });
  return (ack) => {
    if (typeof ack?.breakout?.to === 'string') goToRoom(client, ack.breakout.to);
  };
}

export { dealGroups } from './group-split.js';

const HOWS = ['random', 'mix', 'hand'];

export class GroupsPanel {
  #ack = null;
  #names = new Map();
  #draft = { count: 2, minutes: '', how: 'random', hand: new Map() };

  /**
   * @param {object} options
   * @param {HTMLElement} options.el the (empty) section to fill
   * @param {import('./protocol.js').LiveClient} options.client
   * @param {string} options.room
   * @param {object} options.t a Translator
   * @param {() => Map<string, {id: string, name: string, role: string}>} options.members
   * @param {(key: string, params?: object) => void} options.announce
   * @param {(promise: Promise<any>) => Promise<any>} options.act
   */
  constructor({ el, client, room, t, members, announce, act }) {
    Object.assign(this, { el, client, room, t, members, announce, act });
  }

  /** A join ack of the room: shown to teachers only. */
  load(ack) {
    this.#ack = ack;
    this.el.hidden = ack?.you?.role !== 'teacher';
    this.render();
  }

  render() {
    const { t } = this;
    const ack = this.#ack;
    if (!ack || this.el.hidden) return;
    const title = h('h2', { id: 'groups-title' }, t.t('groups.title'));
    if (ack.group) {
      const back = this.#button('groups.back', () => goToRoom(this.client, ack.group.main));
      const parts = [title, back];
      if (!ack.group.over) parts.push(this.#broadcastForm(), this.#button('groups.recall', () => this.#recall()));
      this.el.replaceChildren(...parts);
      return;
    }
    if (ack.breakout?.rooms) {
      const list = h('ul', { class: 'groups' }, ...ack.breakout.rooms.map((name, i) => {
        const names = (ack.breakout.groups?.[i] ?? []).map((id) => this.#name(id));
        return h('li', {}, this.#button('groups.visit', () => goToRoom(this.client, name), { n: i + 1 }),
          ' ', h('span', { class: 'group-names' }, names.join(', ')));
      }));
      const moves = this.#moveList(ack.breakout);
      this.el.replaceChildren(title, list, moves, this.#broadcastForm(), this.#button('groups.recall', () => this.#recall()));
      return;
    }
    this.el.replaceChildren(title, this.#splitForm());
  }

  /** How many groups, how long, and how to split: at random, mixing schools, or by hand. */
  #splitForm() {
    const { t } = this;
    const draft = this.#draft;
    const count = h('input', { id: 'groups-count', type: 'number', min: '1', max: '50', value: String(draft.count), required: true });
    const minutes = h('input', { id: 'groups-minutes', type: 'number', min: '1', max: '240', value: draft.minutes });
    const how = h('select', { id: 'groups-how' }, ...HOWS.map((value) =>
      h('option', { value, selected: value === draft.how }, t.t(`groups.how_${value}`))));
    const hand = draft.how === 'hand' ? this.#handList(draft.count) : null;
    const form = h('form', { class: 'groups-form' },
      h('label', { for: 'groups-count' }, t.t('groups.count')), count,
      h('label', { for: 'groups-minutes' }, t.t('groups.minutes')), minutes,
      h('label', { for: 'groups-how' }, t.t('groups.how')), how,
      hand,
      h('button', { type: 'submit' }, t.t('groups.start')));
    const keep = () => Object.assign(draft, { count: Math.max(1, Number(count.value) || 1), minutes: minutes.value });
    how.addEventListener('change', () => {
      keep();
      draft.how = how.value;
      this.render();
      document.getElementById('groups-how')?.focus();
    });
    count.addEventListener('change', () => {
      keep();
      if (draft.how !== 'hand') return;
      this.render();
      document.getElementById('groups-count')?.focus();
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      keep();
      this.#start(draft.count, minutes.value ? Number(minutes.value) : undefined);
    });
    return form;
  }

  /** By hand: the pupils present, each with a select of the main room or group 1..count. */
  #handList(count) {
    const { t } = this;
    const pupils = [...this.members().values()].filter((m) => m.role === 'student');
    const rows = pupils.map((pupil) => {
      const id = `groups-for-${pupil.id}`;
      const wanted = this.#draft.hand.get(pupil.id) ?? 0;
      const chosen = wanted <= count ? wanted : 0; // a group beyond the count: the main room
      const select = h('select', { id, 'data-user': pupil.id },
        h('option', { value: '0', selected: chosen === 0 }, t.t('groups.main_room')),
        ...Array.from({ length: count }, (_, i) =>
          h('option', { value: String(i + 1), selected: chosen === i + 1 }, t.t('groups.group_n', { n: i + 1 }))));
      select.addEventListener('change', () => this.#draft.hand.set(pupil.id, Number(select.value)));
      return h('li', {}, h('label', { for: id }, pupil.name), ' ', select);
    });
    return h('ul', { class: 'groups-hand' }, ...rows);
  }

  /** A member's name: from the room's members, or as last seen there (pupils leave for their groups). */
  #name(id) {
    const name = this.members().get(id)?.name;
    if (name) this.#names.set(id, name);
    return name ?? this.#names.get(id) ?? id;
  }

  /** While groups work: per member of a group, a select of the groups and a button to move them (mod:move). */
  #moveList(breakout) {
    const { t } = this;
    const rows = breakout.rooms.flatMap((room, i) => (breakout.groups?.[i] ?? []).map((user) => {
      const id = `groups-move-${user}`;
      const select = h('select', { id, 'data-user': user }, ...breakout.rooms.map((to, j) =>
        h('option', { value: to, selected: j === i }, t.t('groups.group_n', { n: j + 1 }))));
      const move = h('button', { type: 'button', 'data-move': user }, t.t('groups.move'));
      move.addEventListener('click', () => this.#move(user, select.value));
      return h('li', {}, h('label', { for: id }, t.t('groups.move_label', { name: this.#name(user) })), ' ', select, ' ', move);
    }));
    return h('ul', { class: 'groups-move' }, ...rows);
  }

  async #move(user, to) {
    const ack = await this.act(this.client.move(this.room, user, to));
    if (!ack?.breakout) return;
    this.#ack = { ...this.#ack, breakout: ack.breakout };
    this.announce('groups.moved', { name: this.#name(user), n: ack.breakout.rooms.indexOf(to) + 1 });
    this.render();
    document.getElementById(`groups-move-${user}`)?.focus();
  }

  /** A message to every group (mod:broadcast). */
  #broadcastForm() {
    const { t } = this;
    const text = h('input', { id: 'groups-text', type: 'text', maxlength: '2000', required: true, autocomplete: 'off' });
    const form = h('form', { class: 'groups-broadcast' },
      h('label', { for: 'groups-text' }, t.t('groups.broadcast_label')), text,
      h('button', { type: 'submit' }, t.t('groups.broadcast')));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!text.value.trim() || !(await this.act(this.client.broadcast(this.room, text.value)))) return;
      text.value = '';
      this.announce('groups.broadcast_sent');
    });
    return form;
  }

  #button(key, onClick, params) {
    const button = h('button', { type: 'button' }, this.t.t(key, params));
    button.addEventListener('click', onClick);
    return button;
  }

  async #start(count, minutes) {
    const pupils = [...this.members().values()].filter((m) => m.role === 'student');
    for (const pupil of pupils) this.#name(pupil.id);
    const present = new Set(pupils.map((m) => m.id));
    const { how, hand } = this.#draft;
    const groups = how === 'hand'
      ? handGroups(new Map([...hand].filter(([id, n]) => present.has(id) && n <= count)))
      : how === 'mix' ? mixSchools(pupils, count) : dealGroups([...present], count);
    if (!groups.length) {
      this.announce(pupils.length ? 'groups.none_chosen' : 'groups.none');
      return;
    }
    const ack = await this.act(this.client.breakout(this.room, groups, { minutes }));
    if (!ack) return;
    this.#ack = { ...this.#ack, breakout: { rooms: ack.rooms, groups, until: null } };
    this.announce('groups.started', { count: ack.rooms.length });
    this.render();
  }

  async #recall() {
    if (!(await this.act(this.client.recall(this.room)))) return;
    this.announce('groups.recalled');
    if (this.#ack?.group) goToRoom(this.client, this.#ack.group.main);
    else {
      const { breakout, ...rest } = this.#ack;
      this.#ack = rest;
      this.render();
    }
  }
}
