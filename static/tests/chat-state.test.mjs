// The widget's state without a browser: `node --test static/tests/`. The LiveClient is a real one
// that never connects; the service's events are handed to it where socket.io-client would
// (`received`), so its dedupe by id runs too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatState, NOTICE_MS, SYNC_RETRY_MS } from '../src/chat-state.js';
import { chatMuted } from '../src/roster.js';
import { LiveClient, LiveError, LocalEvents, Requests, ServerEvents } from '../src/protocol.js';
import { JOIN_PAGE_SIZE, pageAfter, vanishedIds } from '../src/catch-up.js';
import { MessageList } from '../src/message-list.js';

const ROOM = 'r';
const message = (id, user = 'a', text = `text ${id}`) => ({
  id, room: ROOM, cid: `c-${id}`, user: { id: user, name: user.toUpperCase(), role: 'student' }, text, ts: 0,
});
const ids = (state) => state.messages.list().map((m) => m.id);

function setUp({ me = 'me', atLatest = () => true } = {}) {
  const client = new LiveClient({ token: 'x.e30.y', url: 'http://127.0.0.1:9' });
  const state = new ChatState({ client, room: ROOM, me: { id: me, name: 'Me', role: 'student' }, atLatest });
  const changes = [];
  state.subscribe((aspect, detail) => changes.push([aspect, detail]));
  const joined = (ack, rejoined = false) => client.dispatch(LocalEvents.JOINED, {
    room: ROOM, rejoined, ack: { ok: true, room: ROOM, you: { id: me, name: 'Me', role: 'student' }, members: [], ...ack },
  });
  return { client, state, changes, joined, serve: (event, payload) => client.received(event, payload) };
}

test('messages are kept in id order whatever order they arrive in', () => {
  const { state, serve } = setUp();
  for (const id of ['1-3', '1-1', '2-0', '1-2']) serve(ServerEvents.CHAT_MESSAGE, message(id));
  assert.deepEqual(ids(state), ['1-1', '1-2', '1-3', '2-0']);
});

test('a message delivered twice is shown once', () => {
  const { state, serve, changes } = setUp();
  serve(ServerEvents.CHAT_MESSAGE, message('1-1'));
  serve(ServerEvents.CHAT_MESSAGE, message('1-1'));
  state.addMessage(message('1-1'), true); // e.g. the send ack after the live event
  assert.deepEqual(ids(state), ['1-1']);
  assert.equal(changes.filter(([aspect]) => aspect === 'message').length, 1);
});

test('a message of another room is not taken', () => {
  const { state, serve } = setUp();
  serve(ServerEvents.CHAT_MESSAGE, { ...message('1-1'), room: 'other' });
  assert.equal(state.messages.size, 0);
});

test('private messages sort among the others by their time', () => {
  const list = new MessageList();
  for (const id of ['5-0', 'pm-3-0-x', '2-0', 'pm-7-0-y']) list.add({ id });
  assert.deepEqual(list.list().map((m) => m.id), ['2-0', 'pm-3-0-x', '5-0', 'pm-7-0-y']);
  assert.equal(list.oldestId, '2-0');
  assert.equal(list.add({ id: '2-0' }), -1);
  assert.equal(list.remove('2-0'), true);
  assert.equal(list.remove('2-0'), false);
  assert.equal(list.oldestId, '5-0');
});

test('catch-up after a reconnect merges with what was shown, each once, in order', () => {
  const { state, serve, joined } = setUp();
  joined({ messages: [message('1-1'), message('1-2'), message('1-3')] });
  assert.deepEqual(ids(state), ['1-1', '1-2', '1-3']);
  assert.equal(state.hasMore, false);
  // the rejoin's ack does not replace the list: the client dispatches what was missed
  joined({ messages: [message('1-2'), message('1-3'), message('1-4')] }, true);
  assert.deepEqual(ids(state), ['1-1', '1-2', '1-3']);
  serve(ServerEvents.CHAT_DELETED, { room: ROOM, id: '1-1' }); // vanished meanwhile
  for (const id of ['1-5', '1-4', '1-3', '1-5']) serve(ServerEvents.CHAT_MESSAGE, message(id));
  assert.deepEqual(ids(state), ['1-2', '1-3', '1-4', '1-5']);
});

test('a first join replaces the list and says whether older pages exist', () => {
  const { state, joined } = setUp();
  state.addMessage(message('0-1'), true);
  const page = Array.from({ length: JOIN_PAGE_SIZE }, (_, i) => message(`1-${String(i).padStart(2, '0')}`));
  joined({ messages: page });
  assert.equal(state.messages.size, JOIN_PAGE_SIZE);
  assert.equal(state.messages.oldestId, '1-00');
  assert.equal(state.hasMore, true);
  assert.equal(state.joined, true);
});

test('unread counts live messages appended while the reader is scrolled up, not their own', () => {
  let atLatest = false;
  const { state, serve, changes } = setUp({ atLatest: () => atLatest });
  serve(ServerEvents.CHAT_MESSAGE, message('1-2', 'a'));
  serve(ServerEvents.CHAT_MESSAGE, message('1-1', 'a')); // lands above the newest: not counted
  serve(ServerEvents.CHAT_MESSAGE, message('1-3', 'me')); // own: followed
  assert.equal(state.unread, 1);
  assert.ok(changes.some(([aspect]) => aspect === 'follow'));
  atLatest = true;
  serve(ServerEvents.CHAT_MESSAGE, message('1-4', 'a'));
  assert.equal(state.unread, 1);
  state.markRead();
  assert.equal(state.unread, 0);
});

test('members, hands and the private recipients the permissions allow', () => {
  const { state, serve, joined } = setUp();
  joined({
    members: [{ id: 'me', name: 'Me', role: 'student' }, { id: 't', name: 'T', role: 'teacher' },
      { id: 'p', name: 'P', role: 'student' }],
    permissions: { pupils_to_teachers: true, pupils_to_pupils: false },
  });
  assert.deepEqual(state.privateRecipients().map((m) => m.id), ['t']);
  serve(ServerEvents.MOD_PERMISSIONS, { room: ROOM, permissions: { pupils_to_pupils: true } });
  assert.deepEqual(state.privateRecipients().map((m) => m.id).sort(), ['p', 't']);
  serve(ServerEvents.PRESENCE_UPDATE, { room: ROOM, member: { id: 'me', name: 'Me', role: 'student', hand: true } });
  assert.equal(state.handRaised, true);
  serve(ServerEvents.TYPING, { room: ROOM, user: { id: 'p', name: 'P' }, typing: true });
  assert.deepEqual(state.typists.names(), ['P']);
  serve(ServerEvents.PRESENCE_LEAVE, { room: ROOM, user: 'p' });
  assert.deepEqual(state.typists.names(), []);
  assert.deepEqual([...state.members.keys()], ['me', 't']);
  state.dispose();
});

test('mutes, kicks and polls from the service', () => {
  const { state, serve, joined } = setUp();
  joined({ polls: [{ id: 'q', question: '?', options: ['a', 'b'], open: true, counts: [0, 0], mine: [1] }] });
  assert.deepEqual(state.myVotes.get('q'), [1]);
  assert.equal(state.canVote, true);
  serve(ServerEvents.POLL_RESULTS, { room: ROOM, poll: { id: 'q', open: true, counts: [1, 2] } });
  assert.deepEqual(state.polls.get('q').counts, [1, 2]);
  serve(ServerEvents.MOD_MUTED, { room: ROOM, user: 'me', what: 'chat', muted: true });
  assert.equal(state.muted, true);
  assert.equal(state.notice.key, 'chat.muted');
  serve(ServerEvents.MOD_KICKED, { room: ROOM, user: 'me' });
  assert.equal(state.kicked, true);
  assert.equal(state.hostState, 'offline');
  assert.equal(state.statusKey, 'status.left');
  assert.equal(state.canVote, false);
  state.dispose();
});

test('chatMuted reads every shape a member record uses', () => {
  for (const muted of [true, 'chat', 'all', ['audio', 'chat'], { chat: true }]) assert.equal(chatMuted({ muted }), true);
  for (const muted of [false, 'audio', ['video'], { audio: true }, undefined]) assert.equal(chatMuted({ muted }), false);
});

test('a request that cannot go out leaves a notice with the reason, which then goes', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { state, serve } = setUp();
  serve(ServerEvents.CHAT_MESSAGE, message('1-1', 'me'));
  await state.deleteMessage('1-1');
  assert.deepEqual(state.notice, { key: 'notice.delete_failed', reasonKey: 'error.disconnected' });
  assert.deepEqual(ids(state), ['1-1']);
  assert.equal(await state.sendPrivate('t', 'psst'), null);
  assert.deepEqual(state.notice, { key: 'notice.send_failed', reasonKey: 'error.disconnected' });
  t.mock.timers.tick(NOTICE_MS - 1);
  assert.notEqual(state.notice, null);
  t.mock.timers.tick(1);
  assert.equal(state.notice, null);
  state.dispose();
});

test('nothing is told after dispose', () => {
  const { state, serve, changes, client, joined } = setUp();
  joined({ messages: Array.from({ length: JOIN_PAGE_SIZE }, (_, i) => message(`1-${String(i).padStart(2, '0')}`)) });
  assert.equal(state.canLoadOlder, true);
  state.dispose();
  const before = changes.length;
  serve(ServerEvents.CHAT_MESSAGE, message('2-1'));
  assert.equal(changes.length, before);
  assert.equal(state.client, null);
  assert.equal(client.closed, true);
  assert.equal(state.canLoadOlder, false);
});

test('catch-up helpers: pages after a cursor until the service says no more', async () => {
  const pages = { '1-0': { messages: [message('1-1'), message('1-2')], more: true }, '1-2': { messages: [message('1-3')], more: false } };
  const asked = [];
  const got = await pageAfter(async (after) => { asked.push(after); return pages[after]; }, '1-0', () => true);
  assert.deepEqual(got.map((m) => m.id), ['1-1', '1-2', '1-3']);
  assert.deepEqual(asked, ['1-0', '1-2']);
  assert.deepEqual(await pageAfter(async () => assert.fail('not asked'), '1-0', () => false), []);
});

test('catch-up helpers: ids seen before that the new join page lacks were deleted', () => {
  assert.deepEqual(vanishedIds(['1-1', '1-2', '1-3'], [message('1-1'), message('1-3')]), ['1-2']);
  const full = Array.from({ length: JOIN_PAGE_SIZE }, (_, i) => message(`2-${String(i).padStart(2, '0')}`));
  // older than a full page's first message: merely out of the page, not deleted
  assert.deepEqual(vanishedIds(['1-9', '2-00', '2-xx'], full), ['2-xx']);
});

test('room:resync: the widget fetches what came after its newest message, and retries when that fails', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { client, state, serve } = setUp();
  // the service's answers, as the socket would bring them (this client never connects)
  const stored = [message('1-1'), message('1-2'), message('1-3'), message('1-4')];
  const asked = [];
  let failing = 1;
  client.ask = async (event, payload) => {
    asked.push([event, payload]);
    if (event === Requests.JOIN) return { ok: true, room: ROOM, you: { id: 'me', name: 'Me', role: 'student' }, members: [], messages: stored.slice(0, 2) };
    assert.equal(event, Requests.CHAT_HISTORY);
    if (failing > 0) {
      failing -= 1;
      throw new LiveError('unavailable', 'the store is away');
    }
    const after = stored.filter((m) => m.id > payload.after);
    return { ok: true, messages: after.slice(0, payload.limit), more: after.length > payload.limit };
  };
  await client.join(ROOM);
  assert.deepEqual(ids(state), ['1-1', '1-2']);
  const errors = [];
  client.on(LocalEvents.SYNC_ERROR, (detail) => errors.push(detail.room));
  serve(ServerEvents.ROOM_RESYNC, { room: ROOM });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(errors, [ROOM]); // the first try failed: nothing new yet, and the reader is told
  assert.deepEqual(ids(state), ['1-1', '1-2']);
  assert.deepEqual(state.notice, { key: 'notice.sync_failed', reasonKey: null });
  t.mock.timers.tick(SYNC_RETRY_MS); // the widget tries again
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(ids(state), ['1-1', '1-2', '1-3', '1-4']);
  assert.deepEqual(asked.slice(1).map(([, payload]) => payload.after), ['1-2', '1-2']);
  // a resync of a room this client is not in asks nothing
  serve(ServerEvents.ROOM_RESYNC, { room: 'other' });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(asked.length, 3);
  state.dispose();
});
