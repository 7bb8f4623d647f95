// The teacher console, /console#token=…: rooms of the space with who is in them, the live chat
// of one room (with private messages) and delete / mute / kick / ban / lock at hand, raised
// hands, polls, private-message permissions, the audit and the exports. The token is read from
// the URL fragment only and wiped from the address bar; the tab keeps it in sessionStorage, so a
// reload keeps the session, and it is renewed through the window that opened the page
// (session.js, page.js keepSession). User data enters the DOM as text only.

import { LiveClient, LocalEvents, MuteKinds, POLL_EVENTS, Requests, ServerEvents } from './protocol.js';
import { h as el } from './dom.js';
import { decodeToken } from './token.js';
import { languageCandidates, loadTranslator } from './i18n.js';
import { pageVoice } from './page.js';
import { pageToken } from './session.js';
import { privacyViews } from './console-privacy.js';
import { pollViews } from './console-polls.js';
import { privateView } from './console-private.js';
import { chime, safeguarding } from './console-safeguard.js';
import { safeguardPanels, schoolBadge } from './console-filter.js';

const ROOMS_REFRESH_MS = 5000;
const AUDIT_LIMIT = 100;
const MAX_BAN_MINUTES = 43200;
const ROOM_PEOPLE_SHOWN = 8;
const MUTE_KINDS = [MuteKinds.CHAT, MuteKinds.AUDIO, MuteKinds.VIDEO];
/** An audit entry's `action` is the request the teacher made. */
const AUDIT_WORDS = {
  [Requests.CHAT_DELETE]: 'audit.delete', [Requests.MOD_MUTE]: 'audit.mute', [Requests.MOD_KICK]: 'audit.kick',
  [Requests.MOD_LOCK]: 'audit.lock', [Requests.MOD_PERMISSIONS]: 'audit.permissions',
  [Requests.POLL_CLOSE]: 'audit.poll_close', [Requests.MOD_LOBBY]: 'audit.lobby', [Requests.MOD_ADMIT]: 'audit.admit',
  [Requests.MOD_END]: 'audit.end', [Requests.MOD_SUPERVISED]: 'audit.supervised',
  [Requests.REPORT_RESOLVE]: 'audit.report', [Requests.POLL_REVEAL]: 'audit.poll_reveal',
  [Requests.POLL_PUBLISH]: 'audit.poll_publish', [Requests.MOD_MOVE]: 'audit.move',
};
const POLL_ACTIONS = new Set([Requests.POLL_CLOSE, Requests.POLL_REVEAL, Requests.POLL_PUBLISH]);
const $ = (id) => document.getElementById(id);
const SESSION_OVER = new Set(['expired', 'unauthorized']);


/** Re-render `container` with `render()`, keeping keyboard focus on the matching control. */
function keepFocus(container, render) {
  const active = document.activeElement;
  let selector = null;
  if (active && container.contains(active) && active !== container) {
    const item = active.closest('[data-key]');
    const key = active.dataset.act ?? active.dataset.room ?? active.dataset.close ?? null;
    if (item) {
      selector = `[data-key="${CSS.escape(item.dataset.key)}"]`;
      if (key !== null) selector += ` [data-act="${CSS.escape(key)}"], ${selector} [data-close="${CSS.escape(key)}"]`;
    } else if (active.dataset.room) {
      selector = `[data-room="${CSS.escape(active.dataset.room)}"]`;
    }
  }
  render();
  if (selector) {
    const next = container.querySelector(selector);
    if (next) next.focus();
    else (container.closest('[tabindex]') ?? container.querySelector('button'))?.focus();
  }
}


let token = pageToken(); // renewed by keepSession
const claims = decodeToken(token);
const t = await loadTranslator(languageCandidates({ claim: claims?.lang }));
const { alertText, reason, announce, showConnection, keepSession } = pageVoice(t);
document.documentElement.lang = t.lang;
document.documentElement.dir = t.dir;
document.title = t.t('console.title');
for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t.t(node.dataset.i18n);

const state = {
  room: null,
  me: claims?.sub ?? null,
  messages: new Map(),
  members: new Map(),
  names: new Map(),
  hands: [],
  mutes: {},
  polls: new Map(),
  locked: false,
  permissions: { pupils_to_teachers: false, pupils_to_pupils: false },
};

async function act(promise, key = 'console.failed') {
  try {
    $('alert').hidden = true;
    return await promise;
  } catch (error) {
    // a refused or ended session: the connection's own alert says so (page.js)
    if (!SESSION_OVER.has(error?.code)) alertText(key, { reason: reason(error) });
    return null;
  }
}

async function api(path, init = {}) {
  const headers = { ...init.headers, Authorization: `Bearer ${token}` };
  if (init.body !== undefined && !headers['Content-Type']) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { ...init, headers, credentials: 'omit' });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const error = new Error(body?.error?.message ?? response.statusText);
    error.code = body?.error?.code ?? 'unknown';
    throw error;
  }
  return response;
}

/** Save a response's body as a file named `name`. */
async function download(response, name) {
  const url = URL.createObjectURL(await response.blob());
  const link = el('a', { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A name for a user id: from the room's members, the messages seen, else the id. */
function nameOf(id) {
  return String(state.members.get(id)?.name ?? state.names.get(id) ?? id ?? '');
}

if (!claims || claims.role !== 'teacher') {
  alertText(claims ? 'console.need_teacher' : 'error.unauthorized');
} else {
  start();
}

function start() {
  $('main').hidden = false;
  const privacy = privacyViews({ api, t, el, $, act, claims, download });
  const privateMessages = privateView({ api, t, el, $, act });
  const client = new LiveClient({ token, url: location.origin });
  const here = (handler) => (detail) => {
    if (detail?.room === state.room) handler(detail);
  };
  let auditTimer = null;
  const auditSoon = () => {
    clearTimeout(auditTimer);
    auditTimer = setTimeout(refreshAudit, 300);
  };
  const remember = (user) => { if (user?.id) state.names.set(user.id, String(user.name ?? user.id)); };

  showConnection(client);
  keepSession(client, (fresh) => { token = fresh; });
  safeguardPanels({ t, client, api, act, announce });
  $('my-pupils').disabled = !claims?.school;
  client.on(LocalEvents.JOINED, (detail) => {
    if (detail.room === state.room && detail.rejoined) load(detail.ack);
  });
  client.on(ServerEvents.CHAT_MESSAGE, here((m) => { remember(m.user); state.messages.set(m.id, m); renderMessages(); }));
  client.on(ServerEvents.CHAT_PRIVATE, here((m) => {
    remember(m.user);
    remember(m.to);
    state.messages.set(m.id, m);
    renderMessages();
    privateMessages.add(m);
  }));
  client.on(ServerEvents.CHAT_DELETED, here(({ id }) => { state.messages.delete(id); renderMessages(); auditSoon(); }));
  let attendanceTimer = null;
  const attendanceSoon = () => {
    clearTimeout(attendanceTimer);
    attendanceTimer = setTimeout(() => state.room && privacy.showAttendance(state.room), 300);
  };
  client.on(ServerEvents.PRESENCE_JOIN, here(({ member }) => { putMember(member); renderMembers(); attendanceSoon(); }));
  client.on(ServerEvents.PRESENCE_LEAVE, here(({ user }) => {
    state.members.delete(user);
    state.hands = state.hands.filter((id) => id !== user);
    renderMembers();
    attendanceSoon();
  }));
  client.on(ServerEvents.PRESENCE_UPDATE, here(({ member }) => {
    const before = state.members.get(member.id);
    putMember(member);
    if (member.hand && !state.hands.includes(member.id)) {
      state.hands.push(member.id);
      if (!before?.hand) {
        announce('console.hand_up', { name: String(member.name ?? '') });
        chime();
      }
    }
    if (!member.hand) state.hands = state.hands.filter((id) => id !== member.id);
    renderMembers();
  }));
  for (const type of POLL_EVENTS) {
    client.on(type, here(({ poll }) => {
      state.polls.set(poll.id, poll);
      polls.render();
      if (type !== ServerEvents.POLL_CREATED && type !== ServerEvents.POLL_RESULTS) auditSoon();
    }));
  }
  client.on(ServerEvents.MOD_MUTED, here(({ user, kinds }) => {
    state.mutes[user] = kinds ?? [];
    renderMembers();
    auditSoon();
  }));
  client.on(ServerEvents.MOD_KICKED, here(auditSoon));
  client.on(ServerEvents.ROOM_LOCKED, here(({ locked }) => { state.locked = locked; renderControls(); auditSoon(); }));
  client.on(ServerEvents.MOD_PERMISSIONS, here(({ permissions }) => {
    state.permissions = permissions;
    renderControls();
    auditSoon();
  }));
  const moderated = async (promise) => {
    const ok = await act(promise);
    auditSoon();
    return ok;
  };
  const lesson = safeguarding({ client, t, api, act, moderated, announce, state });
  const polls = pollViews({ client, t, el, $, api, act, moderated, announce, download, keepFocus, state });
  client.on(ServerEvents.ROOM_ENDED, here(auditSoon));
  client.connect();

  function putMember(member) {
    state.members.set(member.id, member);
    remember(member);
  }

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
    $('choose').hidden = true;
    $('room').hidden = false;
    $('room-title').textContent = room;
    $('chat-title').textContent = t.t('console.chat', { room });
    refreshRooms();
    refreshAudit();
    privacy.showAttendance(room);
    privateMessages.show(room);
  }

  function load(ack) {
    state.messages = new Map(ack.messages.map((m) => [m.id, m]));
    for (const m of ack.messages) remember(m.user);
    state.members = new Map();
    for (const m of ack.members) putMember(m);
    if (ack.you?.id) state.me = ack.you.id;
    state.hands = [...(ack.hands ?? [])];
    state.mutes = { ...(ack.mutes ?? {}) };
    state.polls = new Map((ack.polls ?? []).map((p) => [p.id, p]));
    state.locked = Boolean(ack.locked);
    state.permissions = ack.permissions ?? state.permissions;
    renderMessages();
    renderMembers();
    polls.render();
    renderControls();
    lesson.load(ack);
    polls.loadClosed(state.room);
  }

  // ---- rooms ----------------------------------------------------------------------------
  async function refreshRooms() {
    let rooms;
    try {
      rooms = (await (await api('/api/rooms')).json()).rooms;
    } catch (error) {
      if (!SESSION_OVER.has(error?.code)) alertText('console.failed', { reason: reason(error) });
      return;
    }
    const list = $('rooms');
    keepFocus(list, () => list.replaceChildren(...rooms.map(({ room, members }) => {
      const names = members.map((m) => String(m.name ?? ''));
      const shown = names.slice(0, ROOM_PEOPLE_SHOWN).join(', ') + (names.length > ROOM_PEOPLE_SHOWN ? ', …' : '');
      return el('li', {},
        el('button', { type: 'button', 'data-room': room, 'aria-current': room === state.room ? 'true' : false },
          el('span', { class: 'room-name' }, room),
          el('span', { class: 'room-count' }, t.t('presence.count', { count: members.length })),
          names.length ? el('span', { class: 'room-people' }, shown) : null));
    })));
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
  setInterval(() => { refreshRooms(); lesson.refreshReports(); }, ROOMS_REFRESH_MS);

  // ---- chat -----------------------------------------------------------------------------
  const sortKey = (id) => (id.startsWith('pm-') ? id.slice(3) : id);
  function renderMessages() {
    const list = $('messages');
    const log = $('log');
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    const items = [...state.messages.values()].sort((a, b) => (sortKey(a.id) < sortKey(b.id) ? -1 : 1)).map((m) => {
      const name = String(m.user?.name ?? '');
      const meta = el('p', { class: 'meta' }, el('bdi', { class: 'name' }, name));
      if (m.user?.role === 'teacher') meta.append(el('span', { class: 'badge' }, t.t('role.teacher')));
      if (m.to) {
        meta.append(el('span', { class: 'badge private' }, t.t('chat.private')),
          el('span', { class: 'to' }, t.t('chat.to_name', { name: String(m.to.name ?? '') })));
      }
      meta.append(el('time', { datetime: new Date(m.ts).toISOString(), title: t.dateTime(m.ts) }, t.time(m.ts)));
      if (!m.to) {
        meta.append(el('button', { type: 'button', class: 'delete small danger', 'data-id': m.id,
          'aria-label': t.t('chat.delete_label', { name }) }, t.t('chat.delete')));
      }
      return el('li', { 'data-id': m.id, 'data-key': m.id, class: m.to ? 'private' : null },
        meta, el('p', { class: 'text', dir: 'auto' }, String(m.text ?? '')));
    });
    keepFocus(list, () => list.replaceChildren(...items));
    if (atBottom) log.scrollTop = log.scrollHeight;
  }
  // Delete, remove and ban wait UNDO_MS with an Undo button before they are sent (a delete
  // cannot be taken back once sent: the message is gone from the store). A second action
  // sends the waiting one at once.
  const UNDO_MS = 5000;
  let waiting = null;
  function later(label, send) {
    waiting?.go();
    const entry = {};
    const finish = (run) => {
      clearTimeout(entry.timer);
      if (waiting !== entry) return;
      waiting = null;
      $('undo').hidden = true;
      if (run) send();
    };
    entry.go = () => finish(true);
    entry.undo = () => finish(false);
    entry.timer = setTimeout(entry.go, UNDO_MS);
    waiting = entry;
    $('undo-text').textContent = t.t('console.undo_pending', { action: label });
    $('undo').hidden = false;
  }
  $('undo-button').addEventListener('click', () => waiting?.undo());
  $('messages').addEventListener('click', (event) => {
    const button = event.target.closest('button.delete');
    const room = state.room;
    if (button) later(t.t('chat.delete'), () => moderated(client.deleteMessage(room, button.dataset.id)));
  });

  function renderRecipients() {
    const select = $('to');
    const chosen = select.value;
    const others = [...state.members.values()].filter((m) => m.id !== state.me)
      .sort((a, b) => String(a.name).localeCompare(String(b.name), t.lang));
    select.replaceChildren(el('option', { value: '' }, t.t('chat.everyone')),
      ...others.map((m) => el('option', { value: m.id }, `${m.name} (${t.t(`role.${m.role}`)})`)));
    select.value = others.some((m) => m.id === chosen) ? chosen : '';
  }
  $('composer').addEventListener('submit', async (event) => {
    event.preventDefault();
    const input = $('text');
    const text = input.value;
    if (!text.trim()) return;
    const to = $('to').value;
    input.value = '';
    const ack = await act(to
      ? client.sendPrivate(state.room, to, text)
      : client.send(state.room, text), 'notice.send_failed');
    if (!ack) {
      if (!input.value) input.value = text;
      return;
    }
    if (to && ack.message) {
      state.messages.set(ack.message.id, ack.message);
      renderMessages();
    }
  });
  $('text').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('composer').requestSubmit();
    }
  });

  // ---- members and hands ----------------------------------------------------------------
  function banMinutes() {
    const value = Math.trunc(Number($('ban-minutes').value));
    return Number.isFinite(value) && value > 0 ? Math.min(value, MAX_BAN_MINUTES) : 0;
  }
  function kickLabel() {
    const minutes = banMinutes();
    return minutes ? t.t('console.ban', { minutes }) : t.t('console.kick');
  }

  function renderMembers() {
    const collator = new Intl.Collator(t.lang);
    const mine = $('my-pupils').checked && claims?.school;
    const members = [...state.members.values()].filter((m) =>
      !mine || m.role === 'teacher' || m.school === claims.school).sort((a, b) =>
      (a.role === 'teacher' ? 0 : 1) - (b.role === 'teacher' ? 0 : 1) || collator.compare(String(a.name), String(b.name)));
    const items = members.map((m) => {
      const name = String(m.name ?? '');
      const kinds = state.mutes[m.id] ?? [];
      const who = el('p', { class: 'who' }, el('bdi', { class: 'name' }, name),
        el('span', { class: 'role' }, t.t(`role.${m.role}`)));
      if (m.school) who.append(schoolBadge(t, m.school));
      if (m.hand) who.append(el('span', { class: 'badge warn' }, t.t('hand.raised')));
      const item = el('li', { 'data-user': m.id, 'data-key': m.id }, who);
      if (m.role !== 'teacher') {
        const actions = el('div', { class: 'actions' });
        for (const kind of MUTE_KINDS) {
          const muted = kinds.includes(kind);
          const key = kind === MuteKinds.CHAT ? (muted ? 'console.unmute' : 'console.mute')
            : `console.${muted ? 'unmute' : 'mute'}_${kind}`;
          actions.append(el('button', {
            type: 'button', class: 'small', 'data-act': kind === MuteKinds.CHAT ? (muted ? 'unmute' : 'mute') : `${muted ? 'unmute' : 'mute'}-${kind}`,
            'data-kind': kind, 'data-muted': String(muted), 'aria-label': `${t.t(key)}: ${name}`,
          }, t.t(key)));
        }
        actions.append(el('button', { type: 'button', class: 'small danger kick', 'data-act': 'kick',
          'aria-label': `${kickLabel()}: ${name}` }, kickLabel()));
        item.append(actions);
      }
      return item;
    });
    const list = $('members');
    keepFocus(list, () => list.replaceChildren(...items));
    const hands = state.hands.filter((id) => state.members.has(id));
    const handList = $('hands');
    keepFocus(handList, () => handList.replaceChildren(...hands.map((id) => {
      const name = String(state.members.get(id).name ?? '');
      return el('li', { 'data-user': id, 'data-key': id }, el('bdi', { class: 'name' }, name),
        el('button', { type: 'button', class: 'small', 'data-act': 'lower',
          'aria-label': `${t.t('console.lower_hand')}: ${name}` }, t.t('console.lower_hand')));
    })));
    $('no-hands').hidden = hands.length > 0;
    $('hands-count').textContent = String(hands.length);
    $('hands-count').hidden = hands.length === 0;
    renderRecipients();
  }
  $('ban-minutes').addEventListener('input', () => {
    for (const button of document.querySelectorAll('#members button.kick')) {
      const name = nameOf(button.closest('li[data-user]').dataset.user);
      button.textContent = kickLabel();
      button.setAttribute('aria-label', `${kickLabel()}: ${name}`);
    }
  });
  const onMemberAction = (event) => {
    const button = event.target.closest('button[data-act]');
    const user = button?.closest('li[data-user]')?.dataset.user;
    if (!button || !user) return;
    const room = state.room;
    const act = button.dataset.act;
    if (act === 'lower') {
      moderated(client.hand(room, false, { user }));
    } else if (act === 'kick') {
      const minutes = banMinutes();
      later(`${kickLabel()}: ${nameOf(user)}`, () => moderated(client.kick(room, user, { banMinutes: minutes })));
    } else if (button.dataset.kind) {
      const muted = button.dataset.muted !== 'true';
      moderated(client.mute(room, user, button.dataset.kind, muted));
    }
  };
  $('members').addEventListener('click', onMemberAction);
  $('hands').addEventListener('click', onMemberAction);

  // ---- room controls and exports --------------------------------------------------------
  function renderControls() {
    $('lock').setAttribute('aria-pressed', String(state.locked));
    $('lock').textContent = t.t(state.locked ? 'console.unlock' : 'console.lock');
    $('locked-badge').hidden = !state.locked;
    $('pm-teachers').checked = Boolean(state.permissions.pupils_to_teachers);
    $('pm-pupils').checked = Boolean(state.permissions.pupils_to_pupils);
  }
  $('lock').addEventListener('click', () => moderated(client.lock(state.room, !state.locked)));
  const permission = (field) => async (event) => {
    const ack = await moderated(client.setPermissions(state.room, { [field]: event.target.checked }));
    if (ack?.permissions) state.permissions = ack.permissions;
    renderControls();
  };
  $('pm-teachers').addEventListener('change', permission('pupils_to_teachers'));
  $('pm-pupils').addEventListener('change', permission('pupils_to_pupils'));
  $('my-pupils').addEventListener('change', () => renderMembers());
  for (const format of ['json', 'csv']) {
    $(`export-${format}`).addEventListener('click', async () => {
      const room = state.room;
      const response = await act(api(`/api/rooms/${encodeURIComponent(room)}/export?format=${format}`));
      if (response) await download(response, `${room}-history.${format}`);
    });
  }

  // ---- audit ----------------------------------------------------------------------------
  function detailText(detail) {
    if (!detail || typeof detail !== 'object') return '';
    return Object.entries(detail).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}`).join(' · ');
  }
  async function refreshAudit() {
    if (!state.room) return;
    let entries;
    try {
      entries = (await (await api(`/api/audit?room=${encodeURIComponent(state.room)}&limit=${AUDIT_LIMIT}`)).json()).entries;
    } catch (error) {
      alertText('console.failed', { reason: reason(error) });
      return;
    }
    $('audit').tBodies[0].replaceChildren(...entries.map((e) => {
      const word = AUDIT_WORDS[e.action];
      const what = el('td', {}, word ? `${t.t(word)} ` : '', el('code', {}, String(e.action)));
      const detail = detailText(e.detail);
      if (detail) what.append(el('span', { class: 'detail' }, detail));
      const target = e.target == null ? '' : POLL_ACTIONS.has(e.action)
        ? String(state.polls.get(e.target)?.question ?? e.target) : nameOf(String(e.target));
      return el('tr', {},
        el('td', {}, el('time', { datetime: new Date(e.ts).toISOString() }, t.dateTime(e.ts))),
        el('td', {}, String(e.actor?.name ?? '')), what, el('td', {}, target));
    }));
    $('no-audit').hidden = entries.length > 0;
  }
  $('audit-refresh').addEventListener('click', refreshAudit);
}
