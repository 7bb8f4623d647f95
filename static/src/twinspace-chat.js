// <twinspace-chat room="R" token="…" lang="…" server="…">: the chat of one room.
//
// The host reflects its state in `data-state` (connecting | online | reconnecting | offline:
// online means connected and in the room) and dispatches `statechange` {state} and `localized`
// {lang, dir, title}. Every message element carries `data-id`. The token may be set as a
// property, which keeps it out of the DOM; a fresh token for the same user is taken without
// reconnecting. `server` overrides the service URL (default: where this script came from).
//
// Private messages: a teacher may write to any member; a pupil to the room's teachers and, when
// the room allows it, to other pupils (`permissions` of the join ack, `mod:permissions`). A
// "To" chooser appears in the composer when there is someone to write to privately; hosts may
// also call `sendPrivate(userId, text)`. Private messages are shown marked as private.

import { JOIN_PAGE_SIZE, LiveClient, isTransient, newCid } from './protocol.js';
import { decodeToken } from './token.js';
import { languageCandidates, loadTranslator } from './i18n.js';
import { adoptStyles } from './chat-style.js';
import { buildView, errorKey, h, memberItem, messageItem, userIdOf } from './chat-view.js';
import { PollPanel } from './chat-polls.js';
import { MessageList } from './message-list.js';
import { TypingNotifier, TypingRoster } from './typing.js';

const NOTICE_MS = 8000;
const JOIN_RETRY_MS = 2000;
const HISTORY_PAGE = 50;
const NEAR_EDGE_PX = 48;
const NARROW_PX = 544;
const ROLE_ORDER = { teacher: 0, student: 1, visitor: 2 };

function mutesChat(what) {
  return what === 'chat' || what === 'all';
}

/** Whether a member record says its chat is muted (`muted: true | 'chat' | ['chat'] | {chat}`). */
function chatMuted(member) {
  const muted = member?.muted;
  if (Array.isArray(muted)) return muted.some(mutesChat);
  if (muted !== null && typeof muted === 'object') return Boolean(muted.chat || muted.all);
  return muted === true || mutesChat(muted);
}

export class TwinspaceChat extends HTMLElement {
  static observedAttributes = ['room', 'token', 'lang', 'server'];

  #token = null;
  #generation = 0;
  #startQueued = false;
  #styleNodes;
  #client = null;
  #t = null;
  #view = null;
  #room = null;
  #me = { id: null, name: '', role: 'visitor' };
  #joined = false;
  #joining = false;
  #refusal = null;
  #kicked = false;
  #muted = false;
  #locked = false;
  #permissions = { pupils_to_teachers: false, pupils_to_pupils: false };
  #closedByServer = false;
  #messages = new MessageList((message) => this.#messageElement(message));
  #members = new Map();
  #typists = new TypingRoster(() => this.#renderTyping());
  #typing = new TypingNotifier((typing) => this.#client?.typing(this.#room, typing).catch(() => {}));
  #hasMore = false;
  #polls = new PollPanel({
    t: null,
    vote: (poll, choices) => this.#client.request('poll:vote', { room: this.#room, poll, choices }),
    canVote: () => this.#joined && !this.#kicked && this.#me.role !== 'visitor',
    describe: (error) => this.#t.t(errorKey(error?.code)),
  });
  #loadingOlder = false;
  #unread = 0;
  #notice = null;
  #noticeTimer = null;

  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
    this.#styleNodes = adoptStyles(this.shadowRoot);
  }

  get token() { return this.#token; }

  set token(value) {
    const token = value ? String(value) : null;
    if (token === this.#token) return;
    const before = decodeToken(this.#token);
    const after = decodeToken(token);
    this.#token = token;
    if (this.#client && before && after && before.sub === after.sub && before.space === after.space) {
      this.#client.token = token;
    } else {
      this.#restart();
    }
  }

  /** connecting | online | reconnecting | offline */
  get state() { return this.dataset.state ?? 'offline'; }

  /** The protocol client in use, for pages that build on the widget. */
  get client() { return this.#client; }

  connectedCallback() {
    if (this.#token === null && this.hasAttribute('token')) this.#token = this.getAttribute('token');
    this.#restart();
  }

  disconnectedCallback() {
    this.#stop();
  }

  attributeChangedCallback(name, oldValue, value) {
    if (oldValue === value) return;
    if (name === 'token') this.token = value;
    else if (name === 'lang' && this.#view) this.#relocalize();
    else this.#restart();
  }

  // ---- lifecycle -------------------------------------------------------------------------

  #restart() {
    this.#stop();
    if (!this.isConnected || this.#startQueued) return;
    this.#startQueued = true;
    queueMicrotask(() => {
      this.#startQueued = false;
      if (this.isConnected && !this.#client) this.#start();
    });
  }

  #stop() {
    this.#generation += 1;
    this.#typing.stop();
    this.#client?.close();
    this.#client = null;
    clearTimeout(this.#noticeTimer);
    this.#typists.clear();
  }

  async #start() {
    const generation = ++this.#generation;
    const claims = decodeToken(this.#token);
    this.#room = this.getAttribute('room');
    this.#me = { id: claims?.sub ?? null, name: claims?.name ?? '', role: claims?.role ?? 'visitor' };
    this.#joined = this.#joining = this.#kicked = this.#muted = this.#locked = false;
    this.#permissions = { pupils_to_teachers: false, pupils_to_pupils: false };
    this.#closedByServer = this.#hasMore = false;
    this.#refusal = this.#notice = null;
    this.#messages.clear();
    this.#members.clear();
    this.#unread = 0;

    const problem = !this.#room ? 'notice.no_room' : !this.#token ? 'notice.no_token'
      : !claims ? 'notice.bad_token' : null;
    if (problem) {
      this.#showNotice(problem, null, true);
    } else {
      // Connect while the catalog loads; what arrives meanwhile is rendered with the view.
      const client = new LiveClient({ token: this.#token, url: this.getAttribute('server') || undefined });
      this.#client = client;
      this.#listen(client, generation);
      client.connect();
    }
    this.#updateStatus();

    const t = await loadTranslator(this.#languageCandidates(claims));
    if (generation !== this.#generation) return;
    this.#t = t;
    this.#renderAll();
  }

  #languageCandidates(claims = decodeToken(this.#token)) {
    return languageCandidates({ explicit: this.getAttribute('lang'), claim: claims?.lang });
  }

  async #relocalize() {
    const generation = this.#generation;
    const t = await loadTranslator(this.#languageCandidates());
    if (generation !== this.#generation) return;
    this.#t = t;
    this.#renderAll();
  }

  #listen(client, generation) {
    const on = (type, handler) => client.addEventListener(type, (event) => {
      if (generation === this.#generation) handler(event.detail ?? {});
    });
    const here = (handler) => (detail) => { if (detail.room === this.#room) handler(detail); };
    on('state', () => this.#onClientState());
    on('auth-error', () => this.#updateStatus());
    on('closed', () => { this.#closedByServer = true; this.#updateStatus(); });
    on('joined', here(({ ack, rejoined }) => this.#onJoined(ack, rejoined)));
    on('rejoin-failed', here(({ error }) => {
      this.#joined = false;
      if (!isTransient(error)) this.#refuse(error);
    }));
    on('chat:message', here((message) => this.#addMessage(message, true)));
    on('chat:private', here((message) => this.#addMessage(message, true)));
    on('chat:deleted', here(({ id }) => this.#removeMessage(id)));
    on('mod:permissions', here(({ permissions }) => {
      this.#permissions = { ...this.#permissions, ...(permissions ?? {}) };
      this.#renderRecipients();
    }));
    on('presence:join', here(({ member }) => this.#putMember(member)));
    on('presence:update', here(({ member }) => this.#putMember(member)));
    on('presence:leave', here(({ user }) => this.#dropMember(userIdOf(user))));
    on('typing', here(({ user, typing }) => this.#onTyping(user, typing)));
    on('mod:muted', here(({ user, what, muted }) => {
      if (userIdOf(user) !== this.#me.id || !mutesChat(what)) return;
      this.#muted = Boolean(muted);
      this.#showNotice(muted ? 'chat.muted' : 'notice.unmuted', null, muted);
      this.#renderComposer();
    }));
    on('mod:kicked', here(({ user }) => {
      if (userIdOf(user) !== this.#me.id) {
        this.#dropMember(userIdOf(user));
        return;
      }
      this.#kicked = true;
      this.#joined = false;
      this.#showNotice('notice.kicked', null, true);
      this.#renderComposer();
      this.#updateStatus();
    }));
    on('room:locked', here(({ locked }) => {
      this.#locked = Boolean(locked);
      this.#renderHeader();
    }));
    for (const type of ['poll:created', 'poll:results', 'poll:closed']) {
      on(type, here(({ poll }) => this.#polls.update(poll)));
    }
  }

  #onClientState() {
    if (this.#client?.state === 'online' && !this.#joined) this.#join();
    this.#updateStatus();
  }

  async #join() {
    if (this.#joining || this.#refusal || this.#kicked) return;
    const generation = this.#generation;
    this.#joining = true;
    try {
      await this.#client.join(this.#room); // rendered by the `joined` event
    } catch (error) {
      if (generation !== this.#generation) return;
      if (!isTransient(error)) {
        if (!['unauthorized', 'expired'].includes(error.code)) this.#refuse(error);
      } else {
        setTimeout(() => {
          if (generation === this.#generation && this.#client?.state === 'online') this.#join();
        }, JOIN_RETRY_MS);
      }
    } finally {
      this.#joining = false;
    }
  }

  #refuse(error) {
    this.#refusal = error;
    this.#joined = false;
    this.#showNotice('notice.join_failed', errorKey(error.code), true);
    this.#renderComposer();
    this.#updateStatus();
  }

  #onJoined(ack, rejoined) {
    this.#joined = true;
    this.#refusal = null;
    this.#kicked = false;
    const you = ack.you && typeof ack.you === 'object' ? ack.you : null;
    if (you) {
      this.#me = {
        id: you.id ?? this.#me.id, name: you.name ?? this.#me.name, role: you.role ?? this.#me.role,
      };
    }
    this.#muted = chatMuted(you) || (ack.mutes?.[you?.id] ?? []).includes('chat');
    this.#polls.load(ack.polls);
    this.#locked = Boolean(ack.locked);
    if (ack.permissions && typeof ack.permissions === 'object') this.#permissions = { ...ack.permissions };
    this.#members = new Map((ack.members ?? []).filter((m) => m?.id).map((m) => [m.id, m]));
    if (you?.id && !this.#members.has(you.id)) this.#members.set(you.id, you);
    if (!rejoined) {
      // A rejoin's missed messages come as chat:message events instead.
      const messages = Array.isArray(ack.messages) ? ack.messages : [];
      this.#messages.clear();
      for (const message of messages) this.#addMessage(message, false);
      this.#hasMore = messages.length >= JOIN_PAGE_SIZE;
      this.#scrollToBottom();
    }
    if (this.#notice?.key === 'notice.join_failed') this.#clearNotice();
    this.#renderOlder();
    this.#renderHeader();
    this.#renderMembers();
    this.#renderComposer();
    this.#updateStatus();
  }

  // ---- messages --------------------------------------------------------------------------

  #messageElement(message) {
    const own = message.user?.id != null && message.user.id === this.#me.id;
    return messageItem(message, { t: this.#t, own, canDelete: own || this.#me.role === 'teacher' });
  }

  #nearBottom() {
    const log = this.#view?.log;
    return !log || log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR_EDGE_PX;
  }

  /** Insert a message in id order, once. `live`: it just arrived (scroll, unread count). */
  #addMessage(message, live) {
    if (!message?.id) return;
    const nearBottom = this.#nearBottom();
    const index = this.#messages.add(message);
    if (index < 0) return;
    if (this.#view) this.#view.empty.hidden = true;
    if (!live) return;
    const authorId = message.user?.id;
    if (authorId) this.#typists.set(authorId, '', false);
    if (authorId === this.#me.id || nearBottom) {
      this.#scrollToBottom();
    } else if (index === this.#messages.size - 1) {
      this.#unread += 1;
      this.#renderJump();
    }
  }

  #removeMessage(id) {
    const focused = this.shadowRoot.activeElement;
    const el = this.#messages.remove(id);
    if (el && focused && el.contains(focused)) this.#view?.log.focus();
    this.#renderOlder();
  }

  async #loadOlder() {
    const oldest = this.#messages.oldestId;
    if (this.#loadingOlder || !this.#hasMore || !this.#joined || !oldest) return;
    const generation = this.#generation;
    const { log, loadOlder } = this.#view;
    const hadFocus = this.shadowRoot.activeElement === loadOlder;
    this.#loadingOlder = true;
    this.#renderOlder();
    log.setAttribute('aria-busy', 'true');
    try {
      const ack = await this.#client.history(this.#room, { before: oldest, limit: HISTORY_PAGE });
      if (generation !== this.#generation) return;
      const fromBottom = log.scrollHeight - log.scrollTop;
      for (const message of ack.messages ?? []) this.#addMessage(message, false);
      log.scrollTop = log.scrollHeight - fromBottom;
      this.#hasMore = Boolean(ack.more) && (ack.messages ?? []).length > 0;
    } catch (error) {
      if (generation === this.#generation) this.#showNotice('notice.history_failed', errorKey(error.code));
    } finally {
      if (generation === this.#generation) {
        this.#loadingOlder = false;
        log.removeAttribute('aria-busy');
        this.#renderOlder();
        if (hadFocus && loadOlder.hidden) log.focus();
      }
    }
  }

  async #send() {
    const { input, to } = this.#view;
    const text = input.value;
    if (!text.trim() || !this.#client) return;
    input.value = '';
    this.#typing.stop();
    if (to.value && !this.#view.recipient.hidden) {
      if (!(await this.sendPrivate(to.value, text)) && !input.value) input.value = text;
      return;
    }
    try {
      await this.#client.send(this.#room, text);
    } catch (error) {
      if (!input.value) input.value = text;
      this.#showNotice('notice.send_failed', errorKey(error.code));
    }
  }

  /**
   * Send a private message to member `to` (a user id). Resolves to the message, or to null after
   * showing why it was refused (e.g. `forbidden` when the room does not allow it).
   */
  async sendPrivate(to, text) {
    if (!this.#client || !String(text ?? '').trim()) return null;
    try {
      const ack = await this.#client.request('chat:private', {
        room: this.#room, to: String(to), text: String(text), cid: newCid(),
      });
      if (ack?.message) this.#addMessage(ack.message, true);
      return ack?.message ?? null;
    } catch (error) {
      this.#showNotice('notice.send_failed', errorKey(error.code));
      return null;
    }
  }

  /** The members this user may write to privately, by the room's permissions. */
  #privateRecipients() {
    const role = this.#me.role;
    if (role === 'visitor') return [];
    const { pupils_to_teachers: toTeachers, pupils_to_pupils: toPupils } = this.#permissions;
    return [...this.#members.values()].filter((m) => m.id !== this.#me.id && (role === 'teacher'
      || (m.role === 'teacher' && toTeachers) || (m.role === 'student' && toPupils)));
  }

  async #delete(id) {
    try {
      await this.#client.deleteMessage(this.#room, id);
      this.#removeMessage(id);
    } catch (error) {
      this.#showNotice('notice.delete_failed', errorKey(error.code));
    }
  }

  // ---- presence, hands, typing -----------------------------------------------------------

  #putMember(member) {
    if (!member?.id) return;
    this.#members.set(member.id, member);
    if (member.id === this.#me.id) {
      this.#muted = chatMuted(member);
      this.#renderComposer();
    }
    this.#renderMembers();
  }

  #dropMember(id) {
    if (!id || !this.#members.delete(id)) return;
    this.#typists.set(id, '', false);
    this.#renderMembers();
  }

  #handRaised() {
    return Boolean(this.#members.get(this.#me.id)?.hand);
  }

  async #toggleHand() {
    if (!this.#client) return;
    const raised = !this.#handRaised();
    const before = this.#members.get(this.#me.id);
    this.#putMember({ ...(before ?? { id: this.#me.id, name: this.#me.name, role: this.#me.role }), hand: raised });
    try {
      await this.#client.hand(this.#room, raised);
    } catch (error) {
      if (before) this.#putMember(before);
      else this.#dropMember(this.#me.id);
      this.#showNotice('notice.hand_failed', errorKey(error.code));
    }
  }

  #onTyping(user, typing) {
    const id = userIdOf(user);
    if (!id || id === this.#me.id) return;
    const name = (typeof user === 'object' && user?.name) || this.#members.get(id)?.name || '';
    this.#typists.set(id, name, Boolean(typing));
  }

  // ---- notices and status ----------------------------------------------------------------

  /** Show a notice; `reasonKey` fills its {reason}. Unless `persist`, it goes after a while. */
  #showNotice(key, reasonKey = null, persist = false) {
    clearTimeout(this.#noticeTimer);
    this.#notice = { key, reasonKey };
    if (!persist) this.#noticeTimer = setTimeout(() => this.#clearNotice(), NOTICE_MS);
    this.#renderNotice();
  }

  #clearNotice() {
    clearTimeout(this.#noticeTimer);
    this.#notice = null;
    this.#renderNotice();
  }

  #hostState() {
    if (!this.#client || this.#refusal || this.#kicked) return 'offline';
    const state = this.#client.state;
    if (state === 'online') return this.#joined ? 'online' : 'connecting';
    return state;
  }

  #updateStatus() {
    const state = this.#hostState();
    if (this.dataset.state !== state) {
      this.dataset.state = state;
      this.dispatchEvent(new CustomEvent('statechange', { detail: { state } }));
    }
    if (!this.#view) return;
    const authError = this.#client?.authError;
    let key = `status.${state}`;
    if (authError) key = authError.code === 'expired' ? 'status.expired' : 'status.unauthorized';
    else if (this.#refusal || this.#kicked) key = 'status.left';
    else if (this.#closedByServer && state === 'offline') key = 'status.closed';
    this.#view.status.textContent = this.#t.t(key);
  }

  // ---- rendering -------------------------------------------------------------------------

  #renderAll() {
    const t = this.#t;
    const view = buildView(t);
    this.#view = view;
    this.#polls.t = t;
    view.root.insertBefore(this.#polls.el, view.typing);
    this.#polls.render();
    const title = t.t('chat.heading', { room: this.#room ?? '' });
    view.title.textContent = title;
    view.composer.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
    view.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.#send();
      }
    });
    view.input.addEventListener('input', () => this.#typing.input(Boolean(view.input.value.trim())));
    view.hand.addEventListener('click', () => this.#toggleHand());
    view.loadOlder.addEventListener('click', () => this.#loadOlder());
    view.dismiss.addEventListener('click', () => this.#clearNotice());
    view.jump.addEventListener('click', () => {
      this.#scrollToBottom();
      view.log.focus();
    });
    view.log.addEventListener('scroll', () => this.#onScroll());
    view.list.addEventListener('click', (event) => {
      const id = event.target.closest?.('button.delete')?.closest('li[data-id]')?.dataset.id;
      if (id) this.#delete(id);
    });
    if (this.getBoundingClientRect().width < NARROW_PX) view.people.open = false;
    this.shadowRoot.replaceChildren(...this.#styleNodes, view.root);
    this.#messages.attach(view.list);
    this.#renderOlder();
    this.#renderHeader();
    this.#renderMembers();
    this.#renderTyping();
    this.#renderNotice();
    this.#renderComposer();
    this.#updateStatus();
    this.#scrollToBottom();
    this.dispatchEvent(new CustomEvent('localized', { detail: { lang: t.lang, dir: t.dir, title } }));
  }

  #renderOlder() {
    if (!this.#view) return;
    const { loadOlder, olderNote, empty } = this.#view;
    const shown = this.#joined && this.#messages.size > 0;
    loadOlder.hidden = !shown || !this.#hasMore || this.#loadingOlder;
    olderNote.hidden = !shown || (this.#hasMore && !this.#loadingOlder);
    olderNote.textContent = this.#t.t(this.#loadingOlder ? 'chat.loading_older' : 'chat.beginning');
    empty.hidden = !this.#joined || this.#messages.size > 0;
  }

  #renderHeader() {
    if (!this.#view) return;
    this.#view.locked.hidden = !this.#locked;
    this.#view.hand.setAttribute('aria-pressed', String(this.#handRaised()));
    this.#view.hand.hidden = !this.#client;
  }

  #renderMembers() {
    if (!this.#view) return;
    const t = this.#t;
    const collator = new Intl.Collator(t.lang);
    const members = [...this.#members.values()].sort((a, b) =>
      (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3)
      || collator.compare(String(a.name ?? ''), String(b.name ?? '')));
    this.#view.members.replaceChildren(
      ...members.map((member) => memberItem(member, { t, me: member.id === this.#me.id })));
    this.#view.peopleCount.textContent = `(${t.t('presence.count', { count: members.length })})`;
    this.#renderHeader();
    this.#renderRecipients();
  }

  #renderRecipients() {
    if (!this.#view) return;
    const t = this.#t;
    const { to, recipient } = this.#view;
    const chosen = to.value;
    const collator = new Intl.Collator(t.lang);
    const people = this.#privateRecipients().sort((a, b) =>
      (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3) || collator.compare(String(a.name ?? ''), String(b.name ?? '')));
    to.replaceChildren(h('option', { value: '' }, t.t('chat.everyone')),
      ...people.map((m) => h('option', { value: m.id },
        `${String(m.name ?? '')} (${t.t(`role.${ROLE_ORDER[m.role] === undefined ? 'visitor' : m.role}`)})`)));
    to.value = people.some((m) => m.id === chosen) ? chosen : '';
    recipient.hidden = people.length === 0;
  }

  #renderTyping() {
    if (!this.#view) return;
    const t = this.#t;
    const names = this.#typists.names().map((name) => name || t.t('typing.someone'));
    let text = '';
    if (names.length === 1) text = t.t('typing.one', { name: names[0] });
    else if (names.length === 2) text = t.t('typing.two', { name: names[0], other: names[1] });
    else if (names.length > 2) text = t.t('typing.many', { count: names.length });
    this.#view.typing.textContent = text;
  }

  #renderNotice() {
    if (!this.#view) return;
    const { notice, noticeText } = this.#view;
    const t = this.#t;
    const current = this.#notice;
    notice.hidden = !current;
    noticeText.textContent = current
      ? t.t(current.key, { reason: current.reasonKey ? t.t(current.reasonKey) : '' }).trim()
      : '';
  }

  #renderComposer() {
    if (!this.#view) return;
    const { composer, input, send, hint, readOnly } = this.#view;
    const reader = this.#me.role === 'visitor';
    composer.hidden = reader || !this.#client;
    readOnly.hidden = !reader || !this.#client;
    const blocked = this.#muted || this.#kicked || Boolean(this.#refusal);
    input.disabled = send.disabled = blocked;
    hint.textContent = this.#t.t(this.#muted ? 'chat.muted' : 'chat.hint');
  }

  #renderJump() {
    if (!this.#view) return;
    const { jump } = this.#view;
    jump.hidden = this.#unread === 0;
    jump.replaceChildren(h('span', { 'aria-hidden': 'true' }, '↓ '),
      this.#unread ? this.#t.t('chat.new_messages', { count: this.#unread }) : '');
  }

  #scrollToBottom() {
    if (!this.#view) return;
    const { log } = this.#view;
    log.scrollTop = log.scrollHeight;
    this.#unread = 0;
    this.#renderJump();
  }

  #onScroll() {
    const { log } = this.#view;
    if (log.scrollTop <= NEAR_EDGE_PX) this.#loadOlder();
    if (this.#unread && this.#nearBottom()) {
      this.#unread = 0;
      this.#renderJump();
    }
  }
}

if (!customElements.get('twinspace-chat')) customElements.define('twinspace-chat', TwinspaceChat);
