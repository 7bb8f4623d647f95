// Breakout rooms on the classroom page (docs/protocol.md "Breakout rooms").
//
// Everyone: when the service moves the user (`room:moved` from this room, or a join ack saying
// the user's group works elsewhere), the page goes to /room/<to> in the same tab, its token kept
// for that page (session.js). The chat inside the page does not move by itself.
// Teachers: in a main room, a panel splits the pupils present into groups at random (with an
// optional timer), then lists the groups with a button to visit each, a message to every group
// and a button to bring everyone back; in a group's room, the same message and buttons back to
// the main room and to bring everyone back.

import { ServerEvents } from './protocol.js';
import { h } from './dom.js';
import { keepToken } from './session.js';

const roomPath = (name) => `/room/${encodeURIComponent(name)}`;

/** Go to room `to`'s page in this tab, with this session's token. */
export function goToRoom(client, to) {
  keepToken(client.token, roomPath(to));
  location.assign(roomPath(to));
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

/** `pupils` (ids) shuffled and dealt into `count` groups, none empty. */
export function dealGroups(pupils, count, random = Math.random) {
  const ids = [...pupils];
  for (let i = ids.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const n = Math.max(1, Math.min(count, ids.length));
  const groups = Array.from({ length: n }, () => []);
  ids.forEach((id, i) => groups[i % n].push(id));
  return groups.filter((g) => g.length);
}

export class GroupsPanel {
  #ack = null;

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
        const names = (ack.breakout.groups?.[i] ?? []).map((id) => this.members().get(id)?.name ?? id);
        return h('li', {}, this.#button('groups.visit', () => goToRoom(this.client, name), { n: i + 1 }),
          ' ', h('span', { class: 'group-names' }, names.join(', ')));
      }));
      this.el.replaceChildren(title, list, this.#broadcastForm(), this.#button('groups.recall', () => this.#recall()));
      return;
    }
    const count = h('input', { id: 'groups-count', type: 'number', min: '1', max: '50', value: '2', required: true });
    const minutes = h('input', { id: 'groups-minutes', type: 'number', min: '1', max: '240' });
    const form = h('form', { class: 'groups-form' },
      h('label', { for: 'groups-count' }, t.t('groups.count')), count,
      h('label', { for: 'groups-minutes' }, t.t('groups.minutes')), minutes,
      h('button', { type: 'submit' }, t.t('groups.start')));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#start(Number(count.value), minutes.value ? Number(minutes.value) : undefined);
    });
    this.el.replaceChildren(title, form);
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
    const pupils = [...this.members().values()].filter((m) => m.role === 'student').map((m) => m.id);
    if (!pupils.length) {
      this.announce('groups.none');
      return;
    }
    const groups = dealGroups(pupils, count);
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
