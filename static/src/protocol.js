// The twinspace-live protocol client, apart from any UI: the one place that names the events of
// the contract (../shared/contract.md §2) and of docs/protocol.md.
//
// LiveClient has one method per client-to-server event; each resolves with the event's
// `{ok: true, ...}` ack or rejects with a LiveError carrying the ack's `code` (or `timeout`,
// `disconnected`). It keeps the rooms it joined, re-joins them after a reconnect, fetches the
// messages missed meanwhile and never dispatches the same message twice. Pages listen with
// `client.on(ServerEvents.X | LocalEvents.X, (payload) => ...)`.
//
// LocalEvents, dispatched by the client itself (payload as given):
//   STATE          {state, previous}  state: connecting | online | reconnecting | offline
//   AUTH_ERROR     {code, message}    the service refused the token (unauthorized | expired)
//   CLOSED         {reason}           the service ended the connection; no automatic reconnect
//   TOKEN_EXPIRING {exp}              the token ends soon: hand a fresh one to `renew(token)`
//                                     (docs/protocol.md "Sessions and renewal")
//   JOINED         {room, ack, rejoined}
//   REJOIN_FAILED  {room, error}      a room could not be re-joined after a reconnect
//   SYNC_ERROR     {room, error}      missed messages could not all be fetched (after a
//                                     reconnect, or after ROOM_RESYNC): call catchUp(room) again
// ServerEvents are dispatched under their own names, payload unchanged, but CHAT_MESSAGE comes
// once per id (live, or missed and fetched after a reconnect). On ROOM_RESYNC (the service
// could not replay what its bus missed) the client catches the room up itself (catchUp).

import {
  Connection, ConnectionEvents, DEFAULT_TIMEOUT_MS, LiveError, defaultServerUrl, isTransient, renewalDue,
} from './connection.js';
import {
  HISTORY_PAGE_MAX, JOIN_PAGE_SIZE, RoomTrack, compareIds, isMessage, pageAfter, vanishedIds,
} from './catch-up.js';

export {
  DEFAULT_TIMEOUT_MS, HISTORY_PAGE_MAX, JOIN_PAGE_SIZE, LiveError, compareIds, defaultServerUrl, isTransient, renewalDue,
};
const SEND_ATTEMPTS = 5;
const REJOIN_ATTEMPTS = 3;

/** Client-to-server events, each sent by the LiveClient method named beside it. */
export const Requests = Object.freeze({
  JOIN: 'join', // join
  LEAVE: 'leave', // leave
  CHAT_SEND: 'chat:send', // send
  CHAT_HISTORY: 'chat:history', // history
  CHAT_DELETE: 'chat:delete', // deleteMessage
  CHAT_PRIVATE: 'chat:private', // sendPrivate (docs/protocol.md)
  CHAT_REPORT: 'chat:report', // report (v2)
  REPORT_RESOLVE: 'report:resolve', // resolveReport (docs/protocol.md)
  CHAT_REACT: 'chat:react', // react (v2)
  CHAT_REACTORS: 'chat:reactors', // reactors (teachers; docs/protocol.md)
  FEEDBACK: 'feedback', // feedback (docs/protocol.md "Feedback bar")
  TYPING: 'typing', // typing
  HAND: 'hand', // hand
  POLL_CREATE: 'poll:create', // createPoll
  POLL_VOTE: 'poll:vote', // vote
  POLL_CLOSE: 'poll:close', // closePoll
  POLL_REVEAL: 'poll:reveal', // revealPoll (docs/protocol.md "Poll kinds")
  POLL_PUBLISH: 'poll:publish', // publishAnswers
  POLL_SCORES: 'poll:scores', // pollScores (teachers)
  MOD_MUTE: 'mod:mute', // mute
  MOD_KICK: 'mod:kick', // kick
  MOD_LOCK: 'mod:lock', // lock
  MOD_PERMISSIONS: 'mod:permissions', // setPermissions (docs/protocol.md)
  MOD_LOBBY: 'mod:lobby', // setLobby (v2)
  MOD_ADMIT: 'mod:admit', // admit (v2)
  MOD_END: 'mod:end', // endLesson (v2)
  MOD_SUPERVISED: 'mod:supervised', // setSupervised (docs/protocol.md)
  MOD_BREAKOUT: 'mod:breakout', // breakout (v2)
  MOD_RECALL: 'mod:recall', // recall (v2)
  MOD_BROADCAST: 'mod:broadcast', // broadcast (docs/protocol.md "Breakout rooms")
  MOD_MOVE: 'mod:move', // move (docs/protocol.md "Breakout rooms")
  RTC_PUBLISH: 'rtc:publish', // rtcPublish
  RTC_SUBSCRIBE: 'rtc:subscribe', // rtcSubscribe
  RTC_ANSWER: 'rtc:answer', // rtcAnswer
  RTC_UNPUBLISH: 'rtc:unpublish', // rtcUnpublish
  RTC_UNSUBSCRIBE: 'rtc:unsubscribe', // rtcUnsubscribe
  RTC_SETTINGS: 'rtc:settings', // rtcSettings (docs/protocol.md)
  AUTH_RENEW: 'auth:renew', // renew (v2)
});

/** Server-to-client events. */
export const ServerEvents = Object.freeze({
  CHAT_MESSAGE: 'chat:message', // a message
  CHAT_DELETED: 'chat:deleted', // {room, id}
  CHAT_PRIVATE: 'chat:private', // a message with `to`
  CHAT_REACTIONS: 'chat:reactions', // {room, id, counts} (v2)
  FEEDBACK_COUNTS: 'feedback:counts', // {room, counts} (teachers; docs/protocol.md)
  PRESENCE_JOIN: 'presence:join', // {room, member}
  PRESENCE_LEAVE: 'presence:leave', // {room, user}
  PRESENCE_UPDATE: 'presence:update', // {room, member}
  TYPING: 'typing', // {room, user, typing}
  POLL_CREATED: 'poll:created', // {room, poll}
  POLL_RESULTS: 'poll:results', // {room, poll}
  POLL_CLOSED: 'poll:closed', // {room, poll}
  POLL_REVEALED: 'poll:revealed', // {room, poll}: a quiz's answer (docs/protocol.md "Poll kinds")
  POLL_PUBLISHED: 'poll:published', // {room, poll}: a text poll's published answers
  MOD_MUTED: 'mod:muted', // {room, user, what, muted, kinds}
  MOD_KICKED: 'mod:kicked', // {room, user}
  MOD_PERMISSIONS: 'mod:permissions', // {room, permissions}
  ROOM_LOCKED: 'room:locked', // {room, locked}
  ROOM_SETTINGS: 'room:settings', // {room, teachers_only_publish, pupil_cameras_teachers_only, last_n}
  ROOM_ADMITTED: 'room:admitted', // {room} (v2)
  ROOM_REFUSED: 'room:refused', // {room} (v2)
  ROOM_ENDED: 'room:ended', // {room} (v2)
  ROOM_MOVED: 'room:moved', // {from, to} (v2)
  LOBBY_WAITING: 'lobby:waiting', // {room, member} (v2; member {id, name, role, school, at})
  LOBBY_DONE: 'lobby:done', // {room, users, allow}: admitted, refused, or gone (allow null)
  ROOM_LOBBY: 'room:lobby', // {room, on}
  ROOM_TEACHER_PRESENT: 'room:teacher_present', // {room, on}: the teacher-present rule
  REPORT_NEW: 'report:new', // {room, report} (v2)
  REPORT_RESOLVED: 'report:resolved', // {room, report} (teachers)
  RTC_STREAM: 'rtc:stream', // {room, stream, user, source}
  RTC_ENDED: 'rtc:ended', // {room, stream, reason} (reason: docs/protocol.md)
  RTC_PAUSED: 'rtc:paused', // {room, user, stream, sub, paused}: last-N paused that video for `user`
  AUTH_EXPIRED: 'auth:expired', // {}, then the connection closes
  ROOM_RESYNC: 'room:resync', // {room}: fetch the messages after the last one seen (docs/protocol.md)
  FILTER_HELD: 'filter:held', // {room, held} to teachers (docs/protocol.md "Message filter")
  FILTER_RESOLVED: 'filter:resolved', // {room, id, released} to teachers
  FILTER_FLAGGED: 'filter:flagged', // {room, flag} to teachers
  FILTER_DECIDED: 'filter:decided', // {room, id, released} to the held message's author
  SCHOOL_NOTICE: 'school:notice', // {room, user, action, by, ts} to the pupil's school's teachers
  POLL_VOTERS: 'poll:voters', // {room, poll, voters} to teachers (named polls)
});

/** The poll events, all `{room, poll}`. */
export const POLL_EVENTS = Object.freeze([ServerEvents.POLL_CREATED, ServerEvents.POLL_RESULTS, ServerEvents.POLL_CLOSED,
  ServerEvents.POLL_REVEALED, ServerEvents.POLL_PUBLISHED]);

/** Poll kinds (`kind` of `poll:create`; docs/protocol.md "Poll kinds"). */
export const PollKinds = Object.freeze({ CHOICE: 'choice', QUIZ: 'quiz', TEXT: 'text', CLOUD: 'cloud' });

/** Events the client dispatches itself (see the top of this file). */
export const LocalEvents = Object.freeze({
  ...ConnectionEvents,
  JOINED: 'joined',
  REJOIN_FAILED: 'rejoin-failed',
  SYNC_ERROR: 'sync-error',
});

/** The emojis `chat:react` takes, in the order they are shown. */
export const EMOJIS = Object.freeze(['\u{1F44D}', '\u2764\uFE0F', '\u{1F602}', '\u{1F62E}', '\u{1F44F}', '\u2753']);

/** What `feedback` says (the feedback bar's keys), in the order they are shown. */
export const FeedbackKinds = Object.freeze({ THUMBS: 'thumbs', SLOWER: 'slower', LOST: 'lost', LOUDER: 'louder' });

/** What `mod:mute` mutes (`what`), and what `mod:muted`'s `kinds` lists. */
export const MuteKinds = Object.freeze({ CHAT: 'chat', AUDIO: 'audio', VIDEO: 'video', ALL: 'all' });

/**
 * Why a stream ended (`rtc:ended`'s `reason`) when someone meant it to: the owner or a teacher
 * stopped it, its owner published it again, the room let only teachers publish, or the member
 * left. Any other reason (`ended`: its connection failed, its process stopped; or none) is an
 * accident the owner's page repairs by publishing again.
 */
export const ON_PURPOSE_ENDS = Object.freeze(new Set(['stopped', 'replaced', 'policy', 'left']));

/** A random UUID v4, also outside secure contexts (where crypto.randomUUID is missing). */
export function newCid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * @typedef {{ok: true} & Record<string, any>} Ack
 * @typedef {{id: string, room: string, cid?: string, user: {id: string, name: string, role: string},
 *   text: string, ts: number, to?: {id: string, name: string, role: string}}} Message
 * @typedef {{id: string, question: string, options: string[], multiple: boolean,
 *   anonymous: boolean, open: boolean, counts: number[], voted?: number, mine?: number[]}} Poll
 */

export class LiveClient extends Connection {
  /** @type {Set<string>} rooms joined, re-joined after a reconnect */
  #rooms = new Set();
  /** @type {Map<string, RoomTrack>} */
  #tracks = new Map();

  /**
   * The newest `ice_servers` of a `join` or `auth:renew` ack: the RTCIceServer list (STUN, and
   * TURN with time-limited credentials) for every new RTCPeerConnection (docs/protocol.md).
   * @type {RTCIceServer[]}
   */
  iceServers = [];

  get rooms() { return [...this.#rooms]; }

  #noteIceServers(ack) {
    if (Array.isArray(ack?.ice_servers)) this.iceServers = ack.ice_servers;
  }

  /** The newest message id seen in a room, or null. */
  lastMessageId(room) {
    return this.#tracks.get(room)?.lastId ?? null;
  }

  /** Disconnect for good; the rooms are left. */
  close() {
    this.#rooms.clear();
    super.close();
  }

  // ---- rooms and chat -------------------------------------------------------------------

  /**
   * Join a room: `{ok, room, you, members, messages, polls, streams, locked, ice_servers, ...}`.
   * @param {string} room
   * @returns {Promise<Ack>}
   */
  async join(room) {
    const ack = await this.ask(Requests.JOIN, { room });
    this.#noteIceServers(ack);
    this.#noteAll(room, ack.messages);
    this.#rooms.add(room);
    this.dispatch(LocalEvents.JOINED, { room, ack, rejoined: false });
    return ack;
  }

  /** @param {string} room @returns {Promise<Ack>} */
  async leave(room) {
    this.#rooms.delete(room);
    const ack = await this.ask(Requests.LEAVE, { room });
    this.#tracks.delete(room);
    return ack;
  }

  /**
   * Send a chat message: `{ok, message}`. A timeout or a lost connection retries with the same
   * `cid`, so the service stores and delivers the message once.
   * @param {string} room
   * @param {string} text
   * @param {{cid?: string, attempts?: number}} [options]
   * @returns {Promise<Ack & {message: Message}>}
   */
  async send(room, text, { cid = newCid(), attempts = SEND_ATTEMPTS } = {}) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const ack = await this.ask(Requests.CHAT_SEND, { room, text, cid });
        if (isMessage(ack.message) && this.#track(ack.message.room).note(ack.message.id)) {
          this.dispatch(ServerEvents.CHAT_MESSAGE, ack.message);
        }
        return ack;
      } catch (error) {
        if (!isTransient(error) || attempt >= attempts || this.closed) throw error;
        await sleep(Math.min(500 * 2 ** (attempt - 1), 4000));
      }
    }
  }

  /**
   * A page of history: `{ok, messages, more}`, oldest first. The messages are marked as seen
   * but not dispatched: the caller renders them.
   * @param {string} room
   * @param {{before?: string, after?: string, limit?: number}} [cursor]
   * @returns {Promise<Ack & {messages: Message[], more: boolean}>}
   */
  async history(room, { before, after, limit } = {}) {
    const ack = await this.ask(Requests.CHAT_HISTORY, { room, before, after, limit });
    this.#noteAll(room, ack.messages);
    return ack;
  }

  /** @param {string} room @param {string} id @returns {Promise<Ack>} */
  deleteMessage(room, id) {
    return this.ask(Requests.CHAT_DELETE, { room, id });
  }

  /**
   * A private message to member `to` (docs/protocol.md): `{ok, message}`.
   * @param {string} room @param {string} to a user id @param {string} text
   * @returns {Promise<Ack & {message: Message}>}
   */
  sendPrivate(room, to, text, { cid = newCid() } = {}) {
    return this.ask(Requests.CHAT_PRIVATE, { room, to, text, cid });
  }

  /** Typing notices are worthless late: sent only while online, never queued. */
  typing(room, typing) {
    return this.ask(Requests.TYPING, { room, typing: Boolean(typing) }, { wait: false });
  }

  /**
   * Raise or lower one's own hand; a teacher lowers someone else's by giving `user`.
   * @param {string} room @param {boolean} raised @param {{user?: string}} [whose]
   * @returns {Promise<Ack>}
   */
  hand(room, raised, { user } = {}) {
    return this.ask(Requests.HAND, { room, raised: Boolean(raised), user });
  }

  /** v2: report a message to the space's teachers. @returns {Promise<Ack>} */
  report(room, id, reason) {
    return this.ask(Requests.CHAT_REPORT, { room, id, reason });
  }

  /**
   * v2: toggle this user's reaction `emoji` on message `id`: `{ok, counts, mine}`.
   * @returns {Promise<Ack & {counts: Record<string, number>, mine: string[]}>}
   */
  react(room, id, emoji) {
    return this.ask(Requests.CHAT_REACT, { room, id, emoji });
  }

  /**
   * Who reacted to message `id` (teachers): `{ok, who: {emoji: [{id, name}]}}`.
   * @returns {Promise<Ack & {who: Record<string, {id: string, name: string}[]>}>}
   */
  reactors(room, id) {
    return this.ask(Requests.CHAT_REACTORS, { room, id });
  }

  /**
   * Press a key of the feedback bar: `kind` a FeedbackKinds value; the room's teachers see it.
   * @returns {Promise<Ack>}
   */
  feedback(room, kind) {
    return this.ask(Requests.FEEDBACK, { room, kind });
  }

  // ---- polls ----------------------------------------------------------------------------

  /**
   * @param {string} room
   * @param {{question: string, options: string[], multiple?: boolean, anonymous?: boolean}} poll
   * @returns {Promise<Ack & {poll: Poll}>}
   */
  createPoll(room, { question, options, multiple, anonymous, kind, correct, hidden }) {
    const textual = kind === PollKinds.TEXT || kind === PollKinds.CLOUD;
    return this.ask(Requests.POLL_CREATE, {
      room, question, options: textual ? undefined : options, multiple, anonymous, kind, correct, hidden,
    });
  }

  /** @param {string} room @param {string} poll @param {number[]} choices option indexes @returns {Promise<Ack>} */
  vote(room, poll, choices) {
    return this.ask(Requests.POLL_VOTE, { room, poll, choices });
  }

  /** A text or word-cloud answer. @param {string} room @param {string} poll @param {string} text @returns {Promise<Ack>} */
  answer(room, poll, text) {
    return this.ask(Requests.POLL_VOTE, { room, poll, text });
  }

  /** A quiz's correct answer to everyone (closes it). @returns {Promise<Ack & {poll: Poll}>} */
  revealPoll(room, poll) {
    return this.ask(Requests.POLL_REVEAL, { room, poll });
  }

  /**
   * Publish a text poll's answers: those with the given ids, or every one not flagged.
   * @param {string} room @param {string} poll @param {string[]} [answers]
   * @returns {Promise<Ack & {poll: Poll}>}
   */
  publishAnswers(room, poll, answers) {
    return this.ask(Requests.POLL_PUBLISH, { room, poll, answers });
  }

  /** Teachers: `{ok, quizzes, scores}` over the room's quizzes of this lesson (`all`: every one kept). */
  pollScores(room, { all } = {}) {
    return this.ask(Requests.POLL_SCORES, { room, all });
  }

  /** @param {string} room @param {string} poll @returns {Promise<Ack & {poll: Poll}>} */
  closePoll(room, poll) {
    return this.ask(Requests.POLL_CLOSE, { room, poll });
  }

  // ---- moderation (teachers) ------------------------------------------------------------

  /**
   * @param {string} room @param {string} user
   * @param {string} what a MuteKinds value @param {boolean} muted
   * @returns {Promise<Ack>}
   */
  mute(room, user, what, muted) {
    return this.ask(Requests.MOD_MUTE, { room, user, what, muted: Boolean(muted) });
  }

  /** @param {string} room @param {string} user @param {{banMinutes?: number}} [ban] @returns {Promise<Ack>} */
  kick(room, user, { banMinutes } = {}) {
    return this.ask(Requests.MOD_KICK, { room, user, ban_minutes: banMinutes || undefined });
  }

  /** @param {string} room @param {boolean} locked @returns {Promise<Ack>} */
  lock(room, locked) {
    return this.ask(Requests.MOD_LOCK, { room, locked: Boolean(locked) });
  }

  /**
   * Who may write privately (docs/protocol.md): `{ok, permissions}`.
   * @param {string} room
   * @param {{pupils_to_teachers?: boolean, pupils_to_pupils?: boolean}} permissions
   * @returns {Promise<Ack & {permissions: {pupils_to_teachers: boolean, pupils_to_pupils: boolean}}>}
   */
  setPermissions(room, { pupils_to_teachers, pupils_to_pupils }) {
    return this.ask(Requests.MOD_PERMISSIONS, { room, pupils_to_teachers, pupils_to_pupils });
  }

  /** v2: turn the room's lobby on or off. @returns {Promise<Ack>} */
  setLobby(room, on) {
    return this.ask(Requests.MOD_LOBBY, { room, on: Boolean(on) });
  }

  /**
   * v2: let waiting pupils in (`allow`) or refuse them: one `user`, a whole `school`, or
   * everyone (`all`). Resolves `{ok, users}`.
   * @param {string} room @param {{user?: string, school?: string, all?: boolean}} who
   * @param {boolean} allow @returns {Promise<Ack & {users: string[]}>}
   */
  admit(room, { user, school, all }, allow) {
    return this.ask(Requests.MOD_ADMIT, { room, user, school, all: all || undefined, allow: Boolean(allow) });
  }

  /** Pupils write and publish only while a teacher is in (`on`), or freely. @returns {Promise<Ack>} */
  setSupervised(room, on) {
    return this.ask(Requests.MOD_SUPERVISED, { room, on: Boolean(on) });
  }

  /**
   * Resolve a report: `action` is `delete`, `mute` or `dismiss`.
   * @param {string} report @param {string} action @returns {Promise<Ack & {report: object}>}
   */
  resolveReport(report, action) {
    return this.ask(Requests.REPORT_RESOLVE, { report, action });
  }

  /** v2: end the lesson. @returns {Promise<Ack>} */
  endLesson(room) {
    return this.ask(Requests.MOD_END, { room });
  }

  /**
   * v2: split the room into groups: `{ok, rooms}`, `rooms[i]` group i's room.
   * @param {string} room @param {string[][]} groups user ids @param {{minutes?: number}} [options]
   * @returns {Promise<Ack & {rooms: string[]}>}
   */
  breakout(room, groups, { minutes } = {}) {
    return this.ask(Requests.MOD_BREAKOUT, { room, groups, minutes });
  }

  /**
   * Move one member to another group of the running breakout: `{ok, breakout}`.
   * @param {string} room the main room or a group's @param {string} user @param {string} to a group's room
   * @returns {Promise<Ack & {breakout: {rooms: string[], groups: string[][], until: number | null}}>}
   */
  move(room, user, to) {
    return this.ask(Requests.MOD_MOVE, { room, user, to });
  }

  /** v2: bring every group back to the room. @returns {Promise<Ack>} */
  recall(room) {
    return this.ask(Requests.MOD_RECALL, { room });
  }

  /**
   * A message to every group of the room's breakout: `{ok, messages}`, one per group.
   * @param {string} room @param {string} text
   * @returns {Promise<Ack & {messages: Message[]}>}
   */
  broadcast(room, text, { cid = newCid().slice(0, 36) } = {}) {
    return this.ask(Requests.MOD_BROADCAST, { room, text, cid });
  }

  // ---- media ----------------------------------------------------------------------------

  /**
   * Publish a stream: `{ok, stream, sdp}` (the service's answer).
   * @param {string} room @param {'camera' | 'screen'} source @param {string} sdp the offer
   * @returns {Promise<Ack & {stream: string, sdp: string}>}
   */
  rtcPublish(room, source, sdp) {
    return this.ask(Requests.RTC_PUBLISH, { room, source, sdp });
  }

  /**
   * Receive a stream: `{ok, sub, sdp}` (the service's offer).
   * @param {string} room @param {string} stream
   * @returns {Promise<Ack & {sub: string, sdp: string}>}
   */
  rtcSubscribe(room, stream) {
    return this.ask(Requests.RTC_SUBSCRIBE, { room, stream });
  }

  /** @param {string} sub @param {string} sdp the browser's answer @returns {Promise<Ack>} */
  rtcAnswer(sub, sdp) {
    return this.ask(Requests.RTC_ANSWER, { sub, sdp });
  }

  /** Stop a stream (one's own; a teacher, anyone's). @param {string} stream @returns {Promise<Ack>} */
  rtcUnpublish(stream) {
    return this.ask(Requests.RTC_UNPUBLISH, { stream });
  }

  /** @param {string} sub @returns {Promise<Ack>} */
  rtcUnsubscribe(sub) {
    return this.ask(Requests.RTC_UNSUBSCRIBE, { sub });
  }

  /**
   * The room's media settings (teacher, docs/protocol.md): `{ok, settings}`.
   * @param {string} room
   * @param {{last_n?: number, teachers_only_publish?: boolean, pupil_cameras_teachers_only?: boolean}} settings
   * @returns {Promise<Ack & {settings: object}>}
   */
  rtcSettings(room, { last_n, teachers_only_publish, pupil_cameras_teachers_only }) {
    return this.ask(Requests.RTC_SETTINGS, { room, last_n, teachers_only_publish, pupil_cameras_teachers_only });
  }

  // ---- session --------------------------------------------------------------------------

  /**
   * v2: hand the live connection a fresh token: `{ok, exp, ice_servers}`. Once accepted it is also the one
   * used to reconnect. When the session has already ended (or its token was refused), the
   * token connects again instead: resolves null.
   * @param {string} token @returns {Promise<(Ack & {exp: number, ice_servers: RTCIceServer[]}) | null>}
   */
  async renew(token) {
    if (this.authError || !this.socket?.active) {
      this.token = token;
      return null;
    }
    const ack = await this.ask(Requests.AUTH_RENEW, { token });
    this.token = token;
    this.#noteIceServers(ack);
    return ack;
  }

  // ---- catching up ----------------------------------------------------------------------

  #track(room) {
    let track = this.#tracks.get(room);
    if (!track) {
      track = new RoomTrack();
      this.#tracks.set(room, track);
    }
    return track;
  }

  #noteAll(room, messages) {
    const track = this.#track(room);
    for (const message of messages ?? []) if (isMessage(message)) track.note(message.id);
  }

  received(event, payload) {
    if (event === ServerEvents.CHAT_MESSAGE) {
      if (!isMessage(payload) || !this.#track(payload.room).note(payload.id)) return;
    } else if (event === ServerEvents.MOD_KICKED && payload && this.#isMe(payload.user)) {
      this.#rooms.delete(payload.room);
    } else if (event === ServerEvents.ROOM_RESYNC && payload && this.#rooms.has(payload.room)) {
      this.catchUp(payload.room);
    } else if (event === ServerEvents.AUTH_EXPIRED) {
      this.expired();
    }
    this.dispatch(event, payload);
  }

  /**
   * Fetch and dispatch the messages of a joined room newer than the newest seen (all of the
   * newest page if none was seen), each once, in order. Resolves true once caught up; on
   * failure dispatches SYNC_ERROR {room, error} and resolves false.
   * @param {string} room
   * @returns {Promise<boolean>}
   */
  async catchUp(room) {
    if (!this.#rooms.has(room)) return true;
    const track = this.#track(room);
    try {
      let missed;
      if (track.lastId === null) {
        missed = (await this.ask(Requests.CHAT_HISTORY, { room, limit: JOIN_PAGE_SIZE })).messages ?? [];
      } else {
        const fetchPage = (after) => this.ask(Requests.CHAT_HISTORY, { room, after, limit: HISTORY_PAGE_MAX });
        missed = await pageAfter(fetchPage, track.lastId, () => this.#rooms.has(room));
      }
      missed = missed.filter(isMessage).sort((a, b) => compareIds(a.id, b.id));
      for (const message of missed) {
        if (track.note(message.id)) this.dispatch(ServerEvents.CHAT_MESSAGE, message);
      }
      return true;
    } catch (error) {
      this.dispatch(LocalEvents.SYNC_ERROR, { room, error });
      return false;
    }
  }

  #isMe(user) {
    const id = user !== null && typeof user === 'object' ? user.id : user;
    return id !== undefined && id === this.userId;
  }

  resume(epoch) {
    return this.#rooms.size === 0 ? null : this.#resync(epoch);
  }

  /** After a reconnect: re-join every room, then fetch and dispatch what was missed. */
  async #resync(epoch) {
    for (const room of [...this.#rooms]) {
      if (!this.current(epoch)) return;
      const track = this.#track(room);
      const known = [...track.seen];
      const cursor = track.lastId;
      const ack = await this.#rejoin(room, epoch);
      if (!ack || !this.current(epoch)) continue;
      this.#noteIceServers(ack);
      this.dispatch(LocalEvents.JOINED, { room, ack, rejoined: true });
      const joinPage = (ack.messages ?? []).filter(isMessage);
      for (const id of vanishedIds(known, joinPage)) this.dispatch(ServerEvents.CHAT_DELETED, { room, id });
      const missed = [...joinPage];
      if (cursor !== null) {
        try {
          const fetchPage = (after) => this.ask(Requests.CHAT_HISTORY, { room, after, limit: HISTORY_PAGE_MAX }, { wait: false });
          missed.push(...(await pageAfter(fetchPage, cursor, () => this.current(epoch))));
        } catch (error) {
          this.dispatch(LocalEvents.SYNC_ERROR, { room, error });
        }
      }
      missed.sort((a, b) => compareIds(a.id, b.id));
      for (const message of missed) {
        if (track.note(message.id)) this.dispatch(ServerEvents.CHAT_MESSAGE, message);
      }
    }
  }

  async #rejoin(room, epoch) {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.ask(Requests.JOIN, { room }, { wait: false });
      } catch (error) {
        if (!this.current(epoch)) return null;
        if (isTransient(error) && attempt < REJOIN_ATTEMPTS) {
          await sleep(500 * attempt);
          continue;
        }
        // A refusal (banned, forbidden, ...) ends the membership; trouble on the way leaves the
        // room for the next reconnect to try again.
        if (!isTransient(error)) this.#rooms.delete(room);
        this.dispatch(LocalEvents.REJOIN_FAILED, { room, error });
        return null;
      }
    }
  }
}
