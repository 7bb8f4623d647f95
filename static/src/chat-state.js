// What <twinspace-chat> knows about its room, apart from how it is shown: the messages (each
// once, in id order), the members and their hands, who types, the polls, the mutes, lock and
// private-message permissions, the notice, the unread count and where the session stands. No
// DOM: it listens to a LiveClient, does what the user asks through it, and tells its listeners
// what changed (`subscribe((aspect, detail) => …)`), one aspect per part of the view:
//   status, notice, composer, header, members, recipients, typing, polls, older, unread,
//   messages (all anew), message {message, index} (one added), removed {id}, follow (scroll to
//   the newest), reactions {id} (one message's reactions), mention {message} (a live message of
//   someone else naming this user: mentions.js), moved {from, to} (a breakout or a recall sends
//   this user to room `to`, or the join ack says the user's group works there).
// The client may be null (no room or token): the state then only holds a notice.

import { JOIN_PAGE_SIZE, LocalEvents, MuteKinds, POLL_EVENTS, ServerEvents, isTransient } from './protocol.js';
import { errorKey } from './i18n.js';
import { MessageList } from './message-list.js';
import { ReactionBook } from './reactions.js';
import { linkPolicy } from './links.js';
import { mentions } from './mentions.js';
import { chatMuted, mutesChat, privateRecipients, userIdOf } from './roster.js';
import { TypingNotifier, TypingRoster } from './typing.js';

export const NOTICE_MS = 8000;
export const JOIN_RETRY_MS = 2000;
export const HISTORY_PAGE = 50;
/** After missed messages could not be fetched: retry after this, doubling up to the max. */
export const SYNC_RETRY_MS = 2000;
export const SYNC_RETRY_MAX_MS = 30000;

export class ChatState {
  /** @type {import('./protocol.js').LiveClient | null} */
  client;
  room;
  me;
  joined = false;
  refusal = null;
  kicked = false;
  waiting = false; // in the room's lobby
  muted = false;
  locked = false;
  closedByServer = false;
  permissions = { pupils_to_teachers: false, pupils_to_pupils: false };
  messages = new MessageList();
  reactions = new ReactionBook();
  /** which http(s) links are shown as links (join ack `links`; links.js) */
  links = linkPolicy(null);
  /** @type {Map<string, object>} by user id */
  members = new Map();
  typists = new TypingRoster(() => this.#changed('typing'));
  /** @type {Map<string, object>} open and closed polls by id */
  polls = new Map();
  /** @type {Map<string, number[]>} the choices this user voted, by poll id */
  myVotes = new Map();
  /** @type {Map<string, string>} this user's text or word-cloud answer, by poll id */
  myAnswers = new Map();
  hasMore = false;
  loadingOlder = false;
  unread = 0;
  /** @type {{key: string, reasonKey: string | null} | null} */
  notice = null;
  #joining = false;
  #disposed = false;
  #noticeTimer = null;
  #syncTimer = null;
  #syncDelay = SYNC_RETRY_MS;
  #listeners = new Set();
  #unlisten = [];
  #atLatest;
  #typing = new TypingNotifier((typing) => this.client?.typing(this.room, typing).catch(() => {}));

  /**
   * @param {object} options
   * @param {import('./protocol.js').LiveClient | null} options.client not yet connected
   * @param {string | null} options.room
   * @param {{id: string | null, name: string, role: string}} options.me from the token
   * @param {() => boolean} [options.atLatest] whether the reader sees the newest message (a
   *   message arriving then is followed, else counted as unread)
   */
  constructor({ client, room, me, atLatest = () => true }) {
    this.client = client;
    this.room = room;
    this.me = me;
    this.#atLatest = atLatest;
    if (client) this.#listen(client);
  }

  /** @param {(aspect: string, detail?: object) => void} listener */
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Connect; the room is joined once online. */
  start() {
    this.client?.connect();
  }

  /** Stop for good: say we stopped typing, disconnect, forget timers. */
  dispose() {
    this.#disposed = true;
    this.#typing.stop();
    for (const stop of this.#unlisten) stop();
    this.client?.close();
    this.client = null;
    clearTimeout(this.#noticeTimer);
    clearTimeout(this.#syncTimer);
    this.typists.clear();
  }

  /** Missed messages could not be fetched: say so, and try again later (with backoff) while
   * joined. */
  #retrySync() {
    this.showNotice('notice.sync_failed');
    if (this.#syncTimer !== null) return;
    const delay = this.#syncDelay;
    this.#syncDelay = Math.min(delay * 2, SYNC_RETRY_MAX_MS);
    this.#syncTimer = setTimeout(async () => {
      this.#syncTimer = null;
      if (this.#disposed || !this.client || !this.joined) return;
      if (await this.client.catchUp(this.room)) this.#syncDelay = SYNC_RETRY_MS;
    }, delay);
  }

  #changed(aspect, detail) {
    if (this.#disposed) return;
    for (const listener of this.#listeners) listener(aspect, detail);
  }

  // ---- the session ----------------------------------------------------------------------

  #listen(client) {
    const on = (type, handler) => this.#unlisten.push(client.on(type, (detail) => {
      if (!this.#disposed) handler(detail ?? {});
    }));
    const here = (handler) => (detail) => { if (detail.room === this.room) handler(detail); };
    on(LocalEvents.STATE, () => {
      if (client.state === 'online' && !this.joined) this.join();
      this.#changed('status');
    });
    on(LocalEvents.AUTH_ERROR, () => this.#changed('status'));
    on(LocalEvents.CLOSED, () => { this.closedByServer = true; this.#changed('status'); });
    on(LocalEvents.JOINED, here(({ ack, rejoined }) => this.#onJoined(ack, rejoined)));
    on(LocalEvents.REJOIN_FAILED, here(({ error }) => {
      this.joined = false;
      if (!isTransient(error)) this.#refuse(error);
    }));
    on(LocalEvents.SYNC_ERROR, here(() => this.#retrySync()));
    on(ServerEvents.CHAT_MESSAGE, here((message) => this.addMessage(message, true)));
    on(ServerEvents.CHAT_PRIVATE, here((message) => this.addMessage(message, true)));
    on(ServerEvents.CHAT_DELETED, here(({ id }) => this.removeMessage(id)));
    on(ServerEvents.CHAT_REACTIONS, here(({ id, counts }) => this.#putReactions(id, counts)));
    on(ServerEvents.ROOM_MOVED, (detail) => {
      if (detail?.from === this.room && typeof detail.to === 'string') this.#changed('moved', { from: this.room, to: detail.to });
    });
    on(ServerEvents.MOD_PERMISSIONS, here(({ permissions }) => {
      this.permissions = { ...this.permissions, ...(permissions ?? {}) };
      this.#changed('recipients');
    }));
    on(ServerEvents.PRESENCE_JOIN, here(({ member }) => this.putMember(member)));
    on(ServerEvents.PRESENCE_UPDATE, here(({ member }) => this.putMember(member)));
    on(ServerEvents.PRESENCE_LEAVE, here(({ user }) => this.dropMember(userIdOf(user))));
    on(ServerEvents.TYPING, here(({ user, typing }) => this.#onTyping(user, typing)));
    on(ServerEvents.MOD_MUTED, here(({ user, what, muted }) => {
      if (userIdOf(user) !== this.me.id || !mutesChat(what)) return;
      this.muted = Boolean(muted);
      this.showNotice(muted ? 'chat.muted' : 'notice.unmuted', null, muted);
      this.#changed('composer');
    }));
    on(ServerEvents.MOD_KICKED, here(({ user }) => {
      if (userIdOf(user) !== this.me.id) {
        this.dropMember(userIdOf(user));
        return;
      }
      this.kicked = true;
      this.joined = false;
      this.showNotice('notice.kicked', null, true);
      this.#changed('composer');
      this.#changed('status');
    }));
    on(ServerEvents.ROOM_ADMITTED, here(() => {
      this.waiting = false;
      this.clearNotice();
      this.join();
    }));
    on(ServerEvents.ROOM_REFUSED, here(() => {
      this.waiting = false;
      this.#refuse({ code: 'refused' }, 'notice.refused');
    }));
    on(ServerEvents.ROOM_ENDED, here(() => {
      this.kicked = true;
      this.joined = false;
      this.showNotice('notice.ended', null, true);
      this.#changed('composer');
      this.#changed('status');
    }));
    on(ServerEvents.ROOM_LOCKED, here(({ locked }) => {
      this.locked = Boolean(locked);
      this.#changed('header');
    }));
    for (const type of POLL_EVENTS) on(type, here(({ poll }) => this.#putPoll(poll)));
  }

  /** connecting | online | reconnecting | offline; online: connected and in the room. */
  get hostState() {
    if (!this.client || this.refusal || this.kicked) return 'offline';
    const state = this.client.state;
    if (state === 'online') return this.joined ? 'online' : 'connecting';
    return state;
  }

  /** The catalog key of the status line. */
  get statusKey() {
    const authError = this.client?.authError;
    if (authError) return authError.code === 'expired' ? 'status.expired' : 'status.unauthorized';
    if (this.refusal || this.kicked) return 'status.left';
    const state = this.hostState;
    if (this.closedByServer && state === 'offline') return 'status.closed';
    return `status.${state}`;
  }

  async join() {
    if (this.#joining || this.refusal || this.kicked) return;
    this.#joining = true;
    try {
      await this.client.join(this.room); // applied by the `joined` event
    } catch (error) {
      if (this.#disposed) return;
      if (error.code === 'waiting') {
        this.waiting = true; // a teacher lets us in (room:admitted) or not (room:refused)
        this.showNotice('notice.waiting', null, true);
        this.#changed('status');
      } else if (!isTransient(error)) {
        if (!['unauthorized', 'expired'].includes(error.code)) this.#refuse(error);
      } else {
        setTimeout(() => {
          if (!this.#disposed && this.client?.state === 'online') this.join();
        }, JOIN_RETRY_MS);
      }
    } finally {
      this.#joining = false;
    }
  }

  #refuse(error, key = 'notice.join_failed') {
    this.refusal = error;
    this.joined = false;
    this.showNotice(key, key === 'notice.join_failed' ? errorKey(error.code) : null, true);
    this.#changed('composer');
    this.#changed('status');
  }

  #onJoined(ack, rejoined) {
    this.joined = true;
    this.refusal = null;
    this.kicked = false;
    const you = ack.you && typeof ack.you === 'object' ? ack.you : null;
    if (you) {
      this.me = { id: you.id ?? this.me.id, name: you.name ?? this.me.name, role: you.role ?? this.me.role };
    }
    this.muted = chatMuted(you) || (ack.mutes?.[you?.id] ?? []).includes(MuteKinds.CHAT);
    this.#loadPolls(ack.polls);
    this.links = linkPolicy(ack.links);
    this.locked = Boolean(ack.locked);
    if (ack.permissions && typeof ack.permissions === 'object') this.permissions = { ...ack.permissions };
    this.members = new Map((ack.members ?? []).filter((m) => m?.id).map((m) => [m.id, m]));
    if (you?.id && !this.members.has(you.id)) this.members.set(you.id, you);
    if (!rejoined) {
      // A rejoin's missed messages come as chat:message events instead.
      const messages = Array.isArray(ack.messages) ? ack.messages : [];
      this.messages.clear();
      this.reactions.clear();
      this.reactions.load(ack.reactions);
      for (const message of messages) if (message?.id) this.messages.add(message);
      this.hasMore = messages.length >= JOIN_PAGE_SIZE;
      this.#changed('messages');
      this.#changed('follow');
    } else {
      for (const id of this.reactions.load(ack.reactions)) this.#changed('reactions', { id });
    }
    if (typeof ack.breakout?.to === 'string') this.#changed('moved', { from: this.room, to: ack.breakout.to });
    if (this.notice?.key === 'notice.join_failed') this.clearNotice();
    for (const aspect of ['older', 'header', 'members', 'composer', 'status']) this.#changed(aspect);
  }

  // ---- messages -------------------------------------------------------------------------

  /** Whether `message` is this user's own. */
  isOwn(message) {
    return message.user?.id != null && message.user.id === this.me.id;
  }

  /** Insert a message in id order, once. `live`: it just arrived (follow it, or count it unread). */
  addMessage(message, live) {
    if (!message?.id) return;
    const follow = live && (message.user?.id === this.me.id || this.#atLatest());
    const index = this.messages.add(message);
    if (index < 0) return;
    this.#changed('message', { message, index });
    if (!live) return;
    const authorId = message.user?.id;
    if (authorId) this.typists.set(authorId, '', false);
    if (authorId !== this.me.id && mentions(message.text, this.me.name)) this.#changed('mention', { message });
    if (follow) {
      this.#changed('follow');
    } else if (index === this.messages.size - 1) {
      this.unread += 1;
      this.#changed('unread');
    }
  }

  removeMessage(id) {
    this.reactions.drop(id);
    if (this.messages.remove(id)) this.#changed('removed', { id });
    this.#changed('older');
  }

  /** The reader saw the newest message. */
  markRead() {
    this.unread = 0;
    this.#changed('unread');
  }

  get canLoadOlder() {
    return Boolean(this.client) && !this.loadingOlder && this.hasMore && this.joined
      && this.messages.oldestId !== null;
  }

  /**
   * Fetch the page older than the oldest message kept. `around(insert)` must call `insert()`,
   * which adds the page; the view wraps it to keep the reader's place.
   * @param {(insert: () => void) => void} [around]
   */
  async loadOlder(around = (insert) => insert()) {
    if (!this.canLoadOlder) return;
    this.loadingOlder = true;
    this.#changed('older');
    try {
      const ack = await this.client.history(this.room, { before: this.messages.oldestId, limit: HISTORY_PAGE });
      if (this.#disposed) return;
      const page = ack.messages ?? [];
      this.reactions.load(ack.reactions);
      around(() => { for (const message of page) this.addMessage(message, false); });
      this.hasMore = Boolean(ack.more) && page.length > 0;
    } catch (error) {
      if (!this.#disposed) this.showNotice('notice.history_failed', errorKey(error.code));
    } finally {
      this.loadingOlder = false;
      this.#changed('older');
    }
  }

  /** Send `text` to the room; whether it was sent (if not, a notice says why). */
  async send(text) {
    if (!this.client) return false;
    try {
      await this.client.send(this.room, text);
      return true;
    } catch (error) {
      this.showNotice('notice.send_failed', errorKey(error.code, error.reason));
      return false;
    }
  }

  /** Send a private message to user `to`: the message, or null after a notice says why. */
  async sendPrivate(to, text) {
    if (!this.client || !String(text ?? '').trim()) return null;
    try {
      const ack = await this.client.sendPrivate(this.room, String(to), String(text));
      if (ack?.message) this.addMessage(ack.message, true);
      return ack?.message ?? null;
    } catch (error) {
      this.showNotice('notice.send_failed', errorKey(error.code, error.reason));
      return null;
    }
  }

  async deleteMessage(id) {
    try {
      await this.client.deleteMessage(this.room, id);
      this.removeMessage(id);
    } catch (error) {
      this.showNotice('notice.delete_failed', errorKey(error.code));
    }
  }

  // ---- reactions ------------------------------------------------------------------------

  get canReact() {
    return this.joined && !this.kicked && !this.muted && this.me.role !== 'visitor';
  }

  #putReactions(id, counts) {
    if (!id) return;
    this.reactions.set(id, counts);
    this.#changed('reactions', { id });
  }

  /** Toggle this user's `emoji` on message `id`; a notice says why when refused. */
  async react(id, emoji) {
    if (!this.client) return;
    try {
      const ack = await this.client.react(this.room, id, emoji);
      this.reactions.set(id, ack.counts, ack.mine);
      this.#changed('reactions', { id });
    } catch (error) {
      this.showNotice('notice.react_failed', errorKey(error.code));
    }
  }

  /** Who reacted to message `id` (teachers): `{emoji: [{id, name}]}`, or null after a notice. */
  async reactors(id) {
    if (!this.client) return null;
    try {
      return (await this.client.reactors(this.room, id)).who ?? {};
    } catch (error) {
      this.showNotice('notice.react_failed', errorKey(error.code));
      return null;
    }
  }

  /** Report a message to the space's teachers (kept as evidence even if deleted later). */
  async reportMessage(id) {
    try {
      await this.client.report(this.room, id);
      this.showNotice('notice.reported');
    } catch (error) {
      this.showNotice('notice.report_failed', errorKey(error.code));
    }
  }

  /** Whether this user may report `message`: someone else's, not as a visitor. */
  canReport(message) {
    return !this.isOwn(message) && this.me.role !== 'visitor' && !message.to;
  }

  /** Whether this user may delete `message`. */
  canDelete(message) {
    return this.isOwn(message) || this.me.role === 'teacher';
  }

  /** The members this user may write to privately, by the room's permissions. */
  privateRecipients() {
    return privateRecipients(this.members.values(), this.me, this.permissions);
  }

  // ---- presence, hands, typing ----------------------------------------------------------

  putMember(member) {
    if (!member?.id) return;
    this.members.set(member.id, member);
    if (member.id === this.me.id) {
      this.muted = chatMuted(member);
      this.#changed('composer');
    }
    this.#changed('members');
  }

  dropMember(id) {
    if (!id || !this.members.delete(id)) return;
    this.typists.set(id, '', false);
    this.#changed('members');
  }

  get handRaised() {
    return Boolean(this.members.get(this.me.id)?.hand);
  }

  /** Raise or lower this user's hand, shown at once and taken back if refused. */
  async toggleHand() {
    if (!this.client) return;
    const raised = !this.handRaised;
    const before = this.members.get(this.me.id);
    this.putMember({ ...(before ?? { id: this.me.id, name: this.me.name, role: this.me.role }), hand: raised });
    try {
      await this.client.hand(this.room, raised);
    } catch (error) {
      if (before) this.putMember(before);
      else this.dropMember(this.me.id);
      this.showNotice('notice.hand_failed', errorKey(error.code));
    }
  }

  /** The composer changed; `hasText` is whether anything but blanks is in it. */
  composing(hasText) {
    this.#typing.input(hasText);
  }

  /** The user sent or left the composer: no longer typing. */
  stopTyping() {
    this.#typing.stop();
  }

  #onTyping(user, typing) {
    const id = userIdOf(user);
    if (!id || id === this.me.id) return;
    const name = (typeof user === 'object' && user?.name) || this.members.get(id)?.name || '';
    this.typists.set(id, name, Boolean(typing));
  }

  // ---- polls ----------------------------------------------------------------------------

  get canVote() {
    return this.joined && !this.kicked && this.me.role !== 'visitor';
  }

  /** Open polls from a join ack (each may carry `mine`). */
  #loadPolls(polls) {
    this.polls = new Map();
    for (const poll of Array.isArray(polls) ? polls : []) {
      if (!poll?.id) continue;
      this.polls.set(poll.id, poll);
      if (Array.isArray(poll.mine) && poll.mine.length) this.myVotes.set(poll.id, poll.mine);
      if (typeof poll.mine_text === 'string') this.myAnswers.set(poll.id, poll.mine_text);
    }
    this.#changed('polls');
  }

  #putPoll(poll) {
    if (!poll?.id) return;
    this.polls.set(poll.id, poll);
    this.#changed('polls');
  }

  /** Vote; rejects with the LiveError when refused. */
  async vote(poll, choices) {
    await this.client.vote(this.room, poll, choices);
    this.myVotes.set(poll, choices);
  }

  /** A text or word-cloud answer; rejects with the LiveError when refused. */
  async answer(poll, text) {
    await this.client.answer(this.room, poll, text);
    this.myAnswers.set(poll, text);
  }

  // ---- notices --------------------------------------------------------------------------

  /**
   * Show a notice; `reasonKey` fills its {reason}, `params` its other placeholders. Unless
   * `persist`, it goes after a while.
   */
  showNotice(key, reasonKey = null, persist = false, params = null) {
    clearTimeout(this.#noticeTimer);
    this.notice = params ? { key, reasonKey, params } : { key, reasonKey };
    if (!persist) this.#noticeTimer = setTimeout(() => this.clearNotice(), NOTICE_MS);
    this.#changed('notice');
  }

  clearNotice() {
    clearTimeout(this.#noticeTimer);
    this.notice = null;
    this.#changed('notice');
  }
}
