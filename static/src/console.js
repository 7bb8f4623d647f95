// The teacher console, /console#token=…: rooms of the space with who is in them, the live chat
// of one room with delete / mute / kick / ban / lock at hand, polls, raised hands, the audit and
// the exports. The token is read from the URL fragment only and wiped from the address bar.
// User data enters the DOM as text only.

import { LiveClient } from './protocol.js';
import { decodeToken } from './token.js';
import { languageCandidates, loadTranslator } from './i18n.js';

const BAN_MINUTES = 10;
const ROOMS_REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return node;
}

function takeToken() {
  const value = new URLSearchParams(location.hash.slice(1)).get('token');
  if (location.hash) history.replaceState(history.state, '', location.pathname + location.search);
  return value;
}

const token = takeToken();
const claims = decodeToken(token);
const t = await loadTranslator(languageCandidates({ claim: claims?.lang }));
document.documentElement.lang = t.lang;
document.documentElement.dir = t.dir;
document.title = t.t('console.title');
for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t.t(node.dataset.i18n);

const state = {
  room: null,
  messages: new Map(),
  members: new Map(),
  hands: [],
  mutes: {},
  polls: new Map(),
  locked: false,
  permissions: { pupils_to_teachers: false, pupils_to_pupils: false },
};

function alertText(key, params) {
  const box = $('alert');
  box.textContent = t.t(key, params);
  box.hidden = false;
}

function reason(error) {
  const code = error?.code;
  return t.has(`error.${code}`) ? t.t(`error.${code}`) : t.t('error.unknown');
}

async function act(promise) {
  try {
    $('alert').hidden = true;
    return await promise;
  } catch (error) {
    alertText('console.failed', { reason: reason(error) });
    return null;
  }
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, credentials: 'omit' });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = new Error(body?.error?.message ?? response.statusText);
    error.code = body?.error?.code ?? 'unknown';
    throw error;
  }
  return response;
}

if (!claims || claims.role !== 'teacher') {
  alertText(claims ? 'console.need_teacher' : 'error.unauthorized');
} else {
  start();
}

function start() {
  $('main').hidden = false;
  const client = new LiveClient({ token, url: location.origin });
  const here = (handler) => (event) => {
    if (event.detail?.room === state.room) handler(event.detail);
  };
  client.addEventListener('state', ({ detail }) => {
    $('status').textContent = t.t(`status.${detail.state}`);
  });
  client.addEventListener('auth-error', ({ detail }) => alertText(`status.${detail.code === 'expired' ? 'expired' : 'unauthorized'}`));
  client.addEventListener('joined', ({ detail }) => {
    if (detail.room === state.room && detail.rejoined) load(detail.ack);
  });
  client.addEventListener('chat:message', here((m) => { state.messages.set(m.id, m); renderMessages(); }));
  client.addEventListener('chat:deleted', here(({ id }) => { state.messages.delete(id); renderMessages(); }));
  client.addEventListener('presence:join', here(({ member }) => { state.members.set(member.id, member); renderMembers(); }));
  client.addEventListener('presence:leave', here(({ user }) => {
    state.members.delete(user);
    state.hands = state.hands.filter((id) => id !== user);
    renderMembers();
  }));
  client.addEventListener('presence:update', here(({ member }) => {
    state.members.set(member.id, member);
    if (member.hand && !state.hands.includes(member.id)) state.hands.push(member.id);
    if (!member.hand) state.hands = state.hands.filter((id) => id !== member.id);
    renderMembers();
  }));
  for (const type of ['poll:created', 'poll:results', 'poll:closed']) {
    client.addEventListener(type, here(({ poll }) => { state.polls.set(poll.id, poll); renderPolls(); }));
  }
  client.addEventListener('mod:muted', here(({ user, kinds }) => {
    state.mutes[user] = kinds ?? [];
    renderMembers();
  }));
  client.addEventListener('room:locked', here(({ locked }) => { state.locked = locked; renderControls(); }));
  client.addEventListener('mod:permissions', here(({ permissions }) => {
    state.permissions = permissions;
    renderControls();
  }));
  client.connect();

  async function openRoom(room) {
    if (state.room === room) return;
    const previous = state.room;
    state.room = room;
    if (previous) act(client.leave(previous));
    const ack = await act(client.join(room));
    if (!ack) {
      state.room = previous;
      return;
    }
    load(ack);
    $('room').hidden = false;
    $('room-title').textContent = room;
    $('chat-title').textContent = t.t('console.chat', { room });
    refreshRooms();
    refreshAudit();
  }

  function load(ack) {
    state.messages = new Map(ack.messages.map((m) => [m.id, m]));
    state.members = new Map(ack.members.map((m) => [m.id, m]));
    state.hands = [...(ack.hands ?? [])];
    state.mutes = { ...(ack.mutes ?? {}) };
    state.polls = new Map((ack.polls ?? []).map((p) => [p.id, p]));
    state.locked = Boolean(ack.locked);
    state.permissions = ack.permissions ?? state.permissions;
    renderMessages();
    renderMembers();
    renderPolls();
    renderControls();
  }

  const moderated = async (promise) => {
    const ok = await act(promise);
    refreshAudit();
    return ok;
  };

  // ---- rooms ----------------------------------------------------------------------------
  async function refreshRooms() {
    let rooms;
    try {
      rooms = (await (await api('/api/rooms')).json()).rooms;
    } catch (error) {
      alertText('console.failed', { reason: reason(error) });
      return;
    }
    const list = $('rooms');
    list.replaceChildren(...rooms.map(({ room, members }) => el('li', {},
      el('button', { type: 'button', 'data-room': room, 'aria-current': room === state.room ? 'true' : false },
        `${room} (${t.t('presence.count', { count: members.length })})`))));
    $('no-rooms').hidden = rooms.length > 0;
  }
  $('rooms').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-room]');
    if (button) openRoom(button.dataset.room);
  });
  $('open-room').addEventListener('submit', (event) => {
    event.preventDefault();
    const name = $('room-name').value.trim();
    if (name) openRoom(name);
  });
  refreshRooms();
  setInterval(refreshRooms, ROOMS_REFRESH_MS);

  // ---- chat -----------------------------------------------------------------------------
  function renderMessages() {
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const items = [...state.messages.values()].sort((a, b) => (a.id < b.id ? -1 : 1)).map((m) => {
      const name = String(m.user?.name ?? '');
      return el('li', { 'data-id': m.id },
        el('p', { class: 'meta' }, el('span', { class: 'name' }, name),
          el('time', { datetime: new Date(m.ts).toISOString() }, t.time(m.ts)),
          el('button', { type: 'button', class: 'delete', 'data-id': m.id,
            'aria-label': t.t('chat.delete_label', { name }) }, t.t('chat.delete'))),
        el('p', { class: 'text' }, String(m.text ?? '')));
    });
    list.replaceChildren(...items);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }
  $('messages').addEventListener('click', (event) => {
    const button = event.target.closest('button.delete');
    if (button) moderated(client.deleteMessage(state.room, button.dataset.id));
  });

  // ---- members and hands ----------------------------------------------------------------
  function renderMembers() {
    const items = [...state.members.values()].map((m) => {
      const muted = (state.mutes[m.id] ?? []).includes('chat');
      const item = el('li', { 'data-user': m.id }, el('span', { class: 'name' }, String(m.name)),
        el('span', { class: 'role' }, t.t(`role.${m.role}`)));
      if (m.hand) item.append(el('span', { title: t.t('hand.raised') }, '✋', el('span', { class: 'vh' }, t.t('hand.raised'))));
      if (m.role !== 'teacher') {
        const label = (key) => `${t.t(key, { minutes: BAN_MINUTES })}: ${m.name}`;
        item.append(
          el('button', { type: 'button', 'data-act': muted ? 'unmute' : 'mute', 'aria-label': label(muted ? 'console.unmute' : 'console.mute') },
            t.t(muted ? 'console.unmute' : 'console.mute')),
          el('button', { type: 'button', 'data-act': 'kick', 'aria-label': label('console.kick') }, t.t('console.kick')),
          el('button', { type: 'button', 'data-act': 'ban', 'aria-label': label('console.ban') },
            t.t('console.ban', { minutes: BAN_MINUTES })));
      }
      if (m.hand) {
        item.append(el('button', { type: 'button', 'data-act': 'lower', 'aria-label': `${t.t('console.lower_hand')}: ${m.name}` },
          t.t('console.lower_hand')));
      }
      return item;
    });
    $('members').replaceChildren(...items);
    const hands = state.hands.filter((id) => state.members.has(id));
    $('hands').replaceChildren(...hands.map((id) => el('li', { 'data-user': id }, String(state.members.get(id).name))));
    $('no-hands').hidden = hands.length > 0;
  }
  $('members').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-act]');
    const user = button?.closest('li[data-user]')?.dataset.user;
    if (!button || !user) return;
    const room = state.room;
    const request = {
      mute: () => client.request('mod:mute', { room, user, what: 'chat', muted: true }),
      unmute: () => client.request('mod:mute', { room, user, what: 'chat', muted: false }),
      kick: () => client.request('mod:kick', { room, user }),
      ban: () => client.request('mod:kick', { room, user, ban_minutes: BAN_MINUTES }),
      lower: () => client.request('hand', { room, raised: false, user }),
    }[button.dataset.act];
    moderated(request());
  });

  // ---- room controls and exports --------------------------------------------------------
  function renderControls() {
    const lock = $('lock');
    lock.textContent = t.t(state.locked ? 'console.unlock' : 'console.lock');
    lock.setAttribute('aria-pressed', String(state.locked));
    $('pm-teachers').checked = Boolean(state.permissions.pupils_to_teachers);
    $('pm-pupils').checked = Boolean(state.permissions.pupils_to_pupils);
  }
  $('lock').addEventListener('click', () => moderated(client.request('mod:lock', { room: state.room, locked: !state.locked })));
  $('pm-teachers').addEventListener('change', (event) => moderated(
    client.request('mod:permissions', { room: state.room, pupils_to_teachers: event.target.checked })));
  $('pm-pupils').addEventListener('change', (event) => moderated(
    client.request('mod:permissions', { room: state.room, pupils_to_pupils: event.target.checked })));
  for (const format of ['json', 'csv']) {
    $(`export-${format}`).addEventListener('click', async () => {
      const room = state.room;
      const response = await act(api(`/api/rooms/${encodeURIComponent(room)}/export?format=${format}`));
      if (!response) return;
      const url = URL.createObjectURL(await response.blob());
      const link = el('a', { href: url, download: `${room}-history.${format}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    });
  }

  // ---- polls ----------------------------------------------------------------------------
  function renderPolls() {
    const polls = [...state.polls.values()].reverse();
    $('polls').replaceChildren(...polls.map((poll) => {
      const options = poll.options.map((text, i) => el('li', {},
        `${text}: `, el('span', { class: 'count', 'data-option': i }, String(poll.counts[i] ?? 0))));
      const item = el('li', { 'data-poll': poll.id, 'data-open': String(poll.open) },
        el('p', { class: 'question' }, String(poll.question)),
        el('ol', {}, ...options),
        el('p', {}, t.t('console.votes', { count: poll.voted ?? 0 })));
      if (poll.open) {
        item.append(el('button', { type: 'button', 'data-close': poll.id }, t.t('console.close_poll')));
      } else {
        item.append(el('p', { class: 'closed' }, t.t('console.poll_closed')));
      }
      return item;
    }));
  }
  $('polls').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-close]');
    if (button) moderated(client.request('poll:close', { room: state.room, poll: button.dataset.close }));
  });
  $('poll-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const options = $('poll-options').value.split('\n').map((o) => o.trim()).filter(Boolean);
    const ack = await act(client.request('poll:create', {
      room: state.room, question: $('poll-question').value, options,
      multiple: $('poll-multiple').checked, anonymous: $('poll-anonymous').checked,
    }));
    if (ack) {
      state.polls.set(ack.poll.id, ack.poll);
      renderPolls();
      event.target.reset();
    }
  });

  // ---- audit ----------------------------------------------------------------------------
  async function refreshAudit() {
    if (!state.room) return;
    let entries;
    try {
      entries = (await (await api(`/api/audit?room=${encodeURIComponent(state.room)}&limit=50`)).json()).entries;
    } catch (error) {
      alertText('console.failed', { reason: reason(error) });
      return;
    }
    $('audit').tBodies[0].replaceChildren(...entries.map((e) => el('tr', {},
      el('td', {}, el('time', { datetime: new Date(e.ts).toISOString() }, t.dateTime(e.ts))),
      el('td', {}, String(e.actor?.name ?? '')),
      el('td', {}, String(e.action)),
      el('td', {}, String(e.target ?? '')))));
    $('no-audit').hidden = entries.length > 0;
  }
  $('audit-refresh').addEventListener('click', refreshAudit);
}
