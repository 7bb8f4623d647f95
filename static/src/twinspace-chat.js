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
//
// Sessions end with their token (docs/protocol.md "Sessions and renewal"): a while before it
// expires the element dispatches `token-expiring` {exp} (cancelable, bubbling, composed). The
// host hands a fresh token of the same user, space and role to `renew(token)` (or sets `token`)
// and calls preventDefault(); otherwise, or if no token came within 15 s, the widget tells the
// user when the session ends. When the service ends it, the status says so; a token set later
// connects again.
//
// The host page knows (docs/protocol.md "The host page knows"): the element dispatches
// `unread` {count} (bubbling, composed) whenever the number of messages that arrived unseen
// changes — unseen means the reader was not at the newest message, or the page was hidden —
// and `mention` {id, room, from, text} when a live message of someone else names this user.
//
// Reactions: each message shows its reactions (chat:react); teachers may list who reacted.
//
// Breakouts: when the service moves the user to another room (`room:moved`), the element
// dispatches `moved` {from, to} (cancelable, bubbling, composed) and, unless cancelled, sets its
// `room` to `to`: it leaves `from` and joins `to`.
//
// What the element knows lives in a ChatState (chat-state.js); this module renders it and wires
// the DOM's events to it. A new ChatState is made for each (re)start.

import { LiveClient, LocalEvents } from './protocol.js';
import { decodeToken } from './token.js';
import { errorKey, languageCandidates, loadTranslator } from './i18n.js';
import { adoptStyles } from './chat-style.js';
import { ChatState } from './chat-state.js';
import { buildView, h, memberItem, messageItem } from './chat-view.js';
import { reactionRow } from './reaction-view.js';
import { PollPanel } from './chat-polls.js';
import { clockTime, hostGraceMs } from './session.js';

const NEAR_EDGE_PX = 48;
const NARROW_PX = 544;
const ROLE_ORDER = { teacher: 0, student: 1, visitor: 2 };

export class TwinspaceChat extends HTMLElement {
  static observedAttributes = ['room', 'token', 'lang', 'server'];

  #token = null;
  #generation = 0;
  #startQueued = false;
  #warnTimer = null;
  #styleNodes;
  /** @type {ChatState | null} */
  #state = null;
  #t = null;
  #view = null;
  /** @type {Map<string, Element>} message elements by id */
  #elements = new Map();
  /** the message whose emoji picker is open, or null */
  #picking = null;
  /** @type {Map<string, object>} who reacted, fetched (teachers), by message id */
  #who = new Map();
  #unreadSent = 0;
  #onVisible = () => {
    if (document.visibilityState === 'visible' && this.#state?.unread && this.#nearBottom()) this.#state.markRead();
  };
  #polls = new PollPanel({
    t: null,
    polls: () => this.#state?.polls ?? new Map(),
    mine: (id) => this.#state?.myVotes.get(id),
    mineText: (id) => this.#state?.myAnswers.get(id),
    vote: (poll, choices) => this.#state.vote(poll, choices),
    answer: (poll, text) => this.#state.answer(poll, text),
    canVote: () => Boolean(this.#state?.canVote),
    describe: (error) => this.#t.t(errorKey(error?.code)),
  });

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
    const client = this.client;
    if (client && before && after && before.sub === after.sub && before.space === after.space
        && before.role === after.role) {
      this.#renewClient(client, token).catch(() => {});
    } else {
      this.#restart();
    }
  }

  /**
   * Hand the live session a fresh token of the same user, space and role: resolves to the
   * service's `{ok, exp}`, or to null when the session had ended and connects again with it.
   * Rejects with a LiveError (`forbidden`: not a valid token of this user, space and role).
   * Another user's token starts a new session (as setting `token` does).
   * @param {string} token
   */
  async renew(token) {
    const fresh = token ? String(token) : null;
    const before = decodeToken(this.#token);
    const after = decodeToken(fresh);
    const client = this.client;
    if (!client || !before || !after || before.sub !== after.sub || before.space !== after.space
        || before.role !== after.role) {
      this.token = fresh;
      return null;
    }
    this.#token = fresh;
    return this.#renewClient(client, fresh);
  }

  async #renewClient(client, token) {
    const ack = await client.renew(token);
    if (client === this.client) this.#sessionNoticeDone();
    return ack;
  }

  #sessionNoticeDone() {
    clearTimeout(this.#warnTimer);
    if (this.#state?.notice?.key === 'session.ends_at') this.#state.clearNotice();
  }

  /** connecting | online | reconnecting | offline */
  get state() { return this.dataset.state ?? 'offline'; }

  /** The protocol client in use, for pages that build on the widget. */
  get client() { return this.#state?.client ?? null; }

  connectedCallback() {
    document.addEventListener('visibilitychange', this.#onVisible);
    if (this.#token === null && this.hasAttribute('token')) this.#token = this.getAttribute('token');
    this.#restart();
  }

  disconnectedCallback() {
    document.removeEventListener('visibilitychange', this.#onVisible);
    this.#stop();
  }

  attributeChangedCallback(name, oldValue, value) {
    if (oldValue === value) return;
    if (name === 'token') this.token = value;
    else if (name === 'lang' && this.#view) this.#relocalize();
    else this.#restart();
  }

  /**
   * Send a private message to member `to` (a user id). Resolves to the message, or to null after
   * showing why it was refused (e.g. `forbidden` when the room does not allow it).
   */
  async sendPrivate(to, text) {
    return this.#state ? this.#state.sendPrivate(to, text) : null;
  }

  // ---- lifecycle -------------------------------------------------------------------------

  #restart() {
    this.#stop();
    if (!this.isConnected || this.#startQueued) return;
    this.#startQueued = true;
    queueMicrotask(() => {
      this.#startQueued = false;
      if (this.isConnected && !this.client) this.#start();
    });
  }

  #stop() {
    this.#generation += 1;
    clearTimeout(this.#warnTimer);
    this.#state?.dispose();
  }

  async #start() {
    const generation = ++this.#generation;
    this.#picking = null;
    this.#who.clear();
    const claims = decodeToken(this.#token);
    const room = this.getAttribute('room');
    const problem = !room ? 'notice.no_room' : !this.#token ? 'notice.no_token'
      : !claims ? 'notice.bad_token' : null;
    // Connect while the catalog loads; what arrives meanwhile is rendered with the view.
    const client = problem ? null
      : new LiveClient({ token: this.#token, url: this.getAttribute('server') || undefined });
    const state = new ChatState({
      client,
      room,
      me: { id: claims?.sub ?? null, name: claims?.name ?? '', role: claims?.role ?? 'visitor' },
      atLatest: () => this.#nearBottom() && document.visibilityState !== 'hidden',
    });
    this.#state = state;
    client?.on(LocalEvents.TOKEN_EXPIRING, ({ exp }) => this.#expiring(client, exp));
    client?.on(LocalEvents.AUTH_ERROR, () => this.#sessionNoticeDone()); // the status tells
    state.subscribe((aspect, detail) => this.#changed(aspect, detail));
    this.#renderMessages();
    if (problem) state.showNotice(problem, null, true);
    state.start();
    this.#updateStatus();

    const t = await loadTranslator(this.#languageCandidates(claims));
    if (generation !== this.#generation) return;
    this.#t = t;
    this.#renderAll();
  }

  /** The token ends soon: ask the host; tell the user unless a fresh one comes in time. */
  #expiring(client, exp) {
    const asked = new CustomEvent(LocalEvents.TOKEN_EXPIRING, {
      detail: { exp }, cancelable: true, bubbles: true, composed: true,
    });
    const expiring = client.token;
    const handled = !this.dispatchEvent(asked);
    const warn = () => { // unless renewed meanwhile
      if (client === this.client && client.token === expiring && exp * 1000 > Date.now()) {
        this.#state?.showNotice('session.ends_at', null, true, { time: clockTime(exp, this.#t?.lang) });
      }
    };
    clearTimeout(this.#warnTimer);
    if (handled) this.#warnTimer = setTimeout(warn, hostGraceMs(exp));
    else warn();
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

  /** What to render when the state changed. */
  #changed(aspect, detail) {
    switch (aspect) {
      case 'status': this.#updateStatus(); break;
      case 'notice': this.#renderNotice(); break;
      case 'composer': this.#renderComposer(); break;
      case 'header': this.#renderHeader(); break;
      case 'members': this.#renderMembers(); break;
      case 'recipients': this.#renderRecipients(); break;
      case 'typing': this.#renderTyping(); break;
      case 'polls': this.#polls.render(); break;
      case 'older': this.#renderOlder(); break;
      case 'unread': this.#renderJump(); this.#tellUnread(); break;
      case 'messages': this.#renderMessages(); break;
      case 'message': this.#insertMessage(detail.message, detail.index); break;
      case 'removed': this.#removeMessage(detail.id); break;
      case 'follow': this.#scrollToBottom(); break;
      case 'reactions': this.#renderReactions(detail.id); break;
      case 'mention': this.#tellMention(detail.message); break;
      case 'moved': this.#follow(detail); break;
      default: break;
    }
  }

  // ---- messages --------------------------------------------------------------------------

  #messageElement(message) {
    const state = this.#state;
    const item = messageItem(message, {
      t: this.#t, own: state.isOwn(message), canDelete: state.canDelete(message),
      canReport: state.canReport(message), links: state.links,
    });
    if (!message.to) item.append(this.#reactionRow(message.id));
    return item;
  }

  // ---- reactions -------------------------------------------------------------------------

  #reactionRow(id) {
    const state = this.#state;
    return reactionRow(id, {
      t: this.#t, entry: state.reactions.get(id), canReact: state.canReact,
      teacher: state.me.role === 'teacher', open: this.#picking === id, who: this.#who.get(id) ?? null,
    });
  }

  /** Draw one message's reactions anew, keeping the focus on the same button. */
  #renderReactions(id, focus = null) {
    const old = this.#elements.get(id)?.querySelector(':scope > .reactions');
    if (!old || !this.#view) return;
    const active = this.shadowRoot.activeElement;
    const had = old.contains(active) ? active : null;
    const row = this.#reactionRow(id);
    old.replaceWith(row);
    const target = focus ?? (had && (had.dataset.emoji
      ? `[data-emoji="${had.dataset.emoji}"]` : `.${had.classList[0]}`));
    const again = target && row.querySelector(target);
    if (again) again.focus();
    else if (had) this.#view.log.focus();
  }

  async #onReactionClick(button) {
    const id = button.closest('.reactions')?.dataset.for;
    const state = this.#state;
    if (!id || !state) return;
    if (button.dataset.act === 'add') {
      const closing = this.#picking === id;
      const before = this.#picking;
      this.#picking = closing ? null : id;
      if (before && before !== id) this.#renderReactions(before);
      this.#renderReactions(id, closing ? '.react-add' : '.pick');
    } else if (button.dataset.act === 'who') {
      if (this.#who.has(id)) this.#who.delete(id);
      else {
        const who = await state.reactors(id);
        if (!who || state !== this.#state) return;
        this.#who.set(id, who);
      }
      this.#renderReactions(id, '.react-who');
    } else if (button.dataset.emoji) {
      const picked = button.classList.contains('pick');
      if (picked) this.#picking = null;
      await state.react(id, button.dataset.emoji);
      if (state !== this.#state) return;
      if (this.#who.has(id)) this.#who.set(id, (await state.reactors(id)) ?? {});
      this.#renderReactions(id, `.reaction[data-emoji="${button.dataset.emoji}"], .react-add`);
    }
  }

  // ---- the host page ---------------------------------------------------------------------

  /** A breakout or a recall moves this user: say so (`moved`, cancelable), then follow. */
  #follow({ from, to }) {
    const moved = new CustomEvent('moved', { detail: { from, to }, cancelable: true, bubbles: true, composed: true });
    if (this.dispatchEvent(moved)) this.setAttribute('room', to);
  }

  #tellUnread() {
    const count = this.#state?.unread ?? 0;
    if (count === this.#unreadSent) return;
    this.#unreadSent = count;
    this.dispatchEvent(new CustomEvent('unread', { detail: { count }, bubbles: true, composed: true }));
  }

  #tellMention(message) {
    this.dispatchEvent(new CustomEvent('mention', {
      detail: { id: message.id, room: message.room, from: String(message.user?.name ?? ''), text: String(message.text ?? '') },
      bubbles: true, composed: true,
    }));
  }

  /** Build every message's element anew (a new session, a join, another language). */
  #renderMessages() {
    this.#elements.clear();
    if (!this.#view) return;
    const items = this.#state.messages.list().map((message) => {
      const el = this.#messageElement(message);
      this.#elements.set(message.id, el);
      return el;
    });
    this.#view.list.replaceChildren(...items);
  }

  #insertMessage(message, index) {
    if (!this.#view) return;
    const el = this.#messageElement(message);
    const next = this.#state.messages.at(index + 1);
    this.#view.list.insertBefore(el, (next && this.#elements.get(next.id)) ?? null);
    this.#elements.set(message.id, el);
    this.#view.empty.hidden = true;
  }

  #removeMessage(id) {
    const el = this.#elements.get(id);
    this.#elements.delete(id);
    if (!el) return;
    const focused = this.shadowRoot.activeElement;
    el.remove();
    if (focused && el.contains(focused)) this.#view?.log.focus();
  }

  #nearBottom() {
    const log = this.#view?.log;
    return !log || log.scrollHeight - log.scrollTop - log.clientHeight <= NEAR_EDGE_PX;
  }

  async #loadOlder() {
    const state = this.#state;
    if (!this.#view || !state?.canLoadOlder) return;
    const { log, loadOlder } = this.#view;
    const hadFocus = this.shadowRoot.activeElement === loadOlder;
    log.setAttribute('aria-busy', 'true');
    await state.loadOlder((insert) => {
      const fromBottom = log.scrollHeight - log.scrollTop;
      insert();
      log.scrollTop = log.scrollHeight - fromBottom;
    });
    if (state !== this.#state || !state.client) return;
    log.removeAttribute('aria-busy');
    if (hadFocus && loadOlder.hidden) log.focus();
  }

  async #send() {
    const { input, to, recipient } = this.#view;
    const text = input.value;
    const state = this.#state;
    if (!text.trim() || !state?.client) return;
    input.value = '';
    state.stopTyping();
    const sent = to.value && !recipient.hidden
      ? Boolean(await state.sendPrivate(to.value, text))
      : await state.send(text);
    if (!sent && !input.value) input.value = text;
  }

  // ---- status ----------------------------------------------------------------------------

  #updateStatus() {
    const state = this.#state?.hostState ?? 'offline';
    if (this.dataset.state !== state) {
      this.dataset.state = state;
      this.dispatchEvent(new CustomEvent('statechange', { detail: { state } }));
    }
    if (!this.#view) return;
    this.#view.status.textContent = this.#t.t(this.#state.statusKey);
  }

  // ---- rendering -------------------------------------------------------------------------

  #renderAll() {
    const t = this.#t;
    const view = buildView(t);
    this.#view = view;
    this.#polls.t = t;
    view.root.insertBefore(this.#polls.el, view.typing);
    this.#polls.render();
    const title = t.t('chat.heading', { room: this.#state.room ?? '' });
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
    view.input.addEventListener('input', () => this.#state?.composing(Boolean(view.input.value.trim())));
    view.hand.addEventListener('click', () => this.#state?.toggleHand());
    view.loadOlder.addEventListener('click', () => this.#loadOlder());
    view.dismiss.addEventListener('click', () => this.#state?.clearNotice());
    view.jump.addEventListener('click', () => {
      this.#scrollToBottom();
      view.log.focus();
    });
    view.log.addEventListener('scroll', () => this.#onScroll());
    view.list.addEventListener('click', (event) => {
      const id = event.target.closest?.('button.delete')?.closest('li[data-id]')?.dataset.id;
      if (id) this.#state?.deleteMessage(id);
      const reported = event.target.closest?.('button.report')?.closest('li[data-id]')?.dataset.id;
      if (reported) this.#state?.reportMessage(reported);
      const reaction = event.target.closest?.('.reactions button');
      if (reaction) this.#onReactionClick(reaction);
    });
    view.list.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape' || !event.target.closest?.('.picker') || !this.#picking) return;
      const id = this.#picking;
      this.#picking = null;
      this.#renderReactions(id, '.react-add');
    });
    if (this.getBoundingClientRect().width < NARROW_PX) view.people.open = false;
    this.shadowRoot.replaceChildren(...this.#styleNodes, view.root);
    this.#renderMessages();
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
    const { joined, hasMore, loadingOlder, messages } = this.#state;
    const shown = joined && messages.size > 0;
    loadOlder.hidden = !shown || !hasMore || loadingOlder;
    olderNote.hidden = !shown || (hasMore && !loadingOlder);
    olderNote.textContent = this.#t.t(loadingOlder ? 'chat.loading_older' : 'chat.beginning');
    empty.hidden = !joined || messages.size > 0;
  }

  #renderHeader() {
    if (!this.#view) return;
    this.#view.locked.hidden = !this.#state.locked;
    this.#view.hand.setAttribute('aria-pressed', String(this.#state.handRaised));
    // a page with its own raise-hand button (the classroom) sets `no-hand`
    this.#view.hand.hidden = !this.#state.client || this.hasAttribute('no-hand');
  }

  /** Teachers first, then pupils, then visitors; by name within each. */
  #byRoleAndName(members) {
    const collator = new Intl.Collator(this.#t.lang);
    return members.sort((a, b) => (ROLE_ORDER[a.role] ?? 3) - (ROLE_ORDER[b.role] ?? 3)
      || collator.compare(String(a.name ?? ''), String(b.name ?? '')));
  }

  #renderMembers() {
    if (!this.#view) return;
    const t = this.#t;
    const me = this.#state.me.id;
    const members = this.#byRoleAndName([...this.#state.members.values()]);
    this.#view.members.replaceChildren(
      ...members.map((member) => memberItem(member, { t, me: member.id === me })));
    this.#view.peopleCount.textContent = `(${t.t('presence.count', { count: members.length })})`;
    this.#renderHeader();
    this.#renderRecipients();
  }

  #renderRecipients() {
    if (!this.#view) return;
    const t = this.#t;
    const { to, recipient } = this.#view;
    const chosen = to.value;
    const people = this.#byRoleAndName(this.#state.privateRecipients());
    to.replaceChildren(h('option', { value: '' }, t.t('chat.everyone')),
      ...people.map((m) => h('option', { value: m.id },
        `${String(m.name ?? '')} (${t.t(`role.${ROLE_ORDER[m.role] === undefined ? 'visitor' : m.role}`)})`)));
    to.value = people.some((m) => m.id === chosen) ? chosen : '';
    recipient.hidden = people.length === 0;
    // whoever can write privately reads, where they write, that teachers can read it too
    this.#view.pmRule.hidden = recipient.hidden;
    const described = recipient.hidden ? 'hint' : 'pm-rule hint';
    this.#view.input.setAttribute('aria-describedby', described);
    to.setAttribute('aria-describedby', 'pm-rule');
  }

  #renderTyping() {
    if (!this.#view) return;
    const t = this.#t;
    const names = this.#state.typists.names().map((name) => name || t.t('typing.someone'));
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
    const current = this.#state.notice;
    notice.hidden = !current;
    noticeText.textContent = current
      ? t.t(current.key, { ...current.params, reason: current.reasonKey ? t.t(current.reasonKey) : '' }).trim()
      : '';
  }

  #renderComposer() {
    if (!this.#view) return;
    const { composer, input, send, hint, readOnly } = this.#view;
    const state = this.#state;
    const reader = state.me.role === 'visitor';
    composer.hidden = reader || !state.client;
    readOnly.hidden = !reader || !state.client;
    input.disabled = send.disabled = state.muted || state.kicked || Boolean(state.refusal);
    hint.textContent = this.#t.t(state.muted ? 'chat.muted' : 'chat.hint');
  }

  #renderJump() {
    if (!this.#view) return;
    const { jump } = this.#view;
    const { unread } = this.#state;
    jump.hidden = unread === 0;
    jump.replaceChildren(h('span', { 'aria-hidden': 'true' }, '↓ '),
      unread ? this.#t.t('chat.new_messages', { count: unread }) : '');
  }

  #scrollToBottom() {
    if (!this.#view) return;
    const { log } = this.#view;
    log.scrollTop = log.scrollHeight;
    this.#state.markRead();
  }

  #onScroll() {
    const { log } = this.#view;
    if (log.scrollTop <= NEAR_EDGE_PX) this.#loadOlder();
    if (this.#state.unread && this.#nearBottom()) this.#state.markRead();
  }
}

if (!customElements.get('twinspace-chat')) customElements.define('twinspace-chat', TwinspaceChat);
