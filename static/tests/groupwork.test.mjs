// Reactions, mentions and the host-page events' state, without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChatState } from '../src/chat-state.js';
import { EMOJIS, LiveClient, LocalEvents, ServerEvents } from '../src/protocol.js';
import { ReactionBook } from '../src/reactions.js';
import { mentions } from '../src/mentions.js';

const [UP, HEART, , , , QUESTION] = EMOJIS;
const ROOM = 'r';

function setUp(name = 'Ana Silva') {
  const client = new LiveClient({ token: 'x.e30.y', url: 'http://127.0.0.1:9' });
  const state = new ChatState({ client, room: ROOM, me: { id: 'me', name, role: 'student' } });
  const changes = [];
  state.subscribe((aspect, detail) => changes.push([aspect, detail]));
  const joined = (ack, rejoined = false) => client.dispatch(LocalEvents.JOINED, {
    room: ROOM, rejoined, ack: { ok: true, room: ROOM, you: { id: 'me', name, role: 'student' }, members: [], ...ack },
  });
  return { client, state, changes, joined, serve: (event, payload) => client.received(event, payload) };
}

const message = (id, text = 'hi', user = 'bo') => ({ id, room: ROOM, cid: id, user: { id: user, name: 'Bo', role: 'student' }, text, ts: 0 });

test('the reaction book keeps counts, own choices, in emoji order, and forgets empty entries', () => {
  const book = new ReactionBook();
  assert.deepEqual(book.load({ '1-0': { counts: { [HEART]: 1, [UP]: 2, bogus: 3 }, mine: [HEART, UP] } }), ['1-0']);
  assert.deepEqual(book.get('1-0'), { counts: { [UP]: 2, [HEART]: 1 }, mine: [UP, HEART] });
  book.set('1-0', { [UP]: 1 }); // someone's toggle: my own choices stay
  assert.deepEqual(book.get('1-0').mine, [UP, HEART]);
  book.set('1-0', {}, []);
  assert.deepEqual(book.get('1-0'), { counts: {}, mine: [] });
  book.load(null);
  book.set('2-0', { [QUESTION]: -1, [UP]: 1.5 });
  assert.deepEqual(book.get('2-0').counts, {});
});

test('join acks, chat:reactions and deletes keep the reactions of each message', () => {
  const { state, joined, serve, changes } = setUp();
  joined({ messages: [message('1-0')], reactions: { '1-0': { counts: { [UP]: 1 }, mine: [UP] } } });
  assert.deepEqual(state.reactions.get('1-0'), { counts: { [UP]: 1 }, mine: [UP] });
  serve(ServerEvents.CHAT_REACTIONS, { room: ROOM, id: '1-0', counts: { [UP]: 2 } });
  serve(ServerEvents.CHAT_REACTIONS, { room: 'other', id: '1-0', counts: { [UP]: 9 } });
  assert.deepEqual(state.reactions.get('1-0'), { counts: { [UP]: 2 }, mine: [UP] });
  assert.deepEqual(changes.filter(([a]) => a === 'reactions').map(([, d]) => d), [{ id: '1-0' }]);
  serve(ServerEvents.CHAT_DELETED, { room: ROOM, id: '1-0' });
  assert.deepEqual(state.reactions.get('1-0').counts, {});
  // a rejoin takes the ack's reactions and says which messages changed
  joined({ messages: [message('2-0')], reactions: { '2-0': { counts: { [HEART]: 1 }, mine: [] } } }, true);
  assert.deepEqual(changes.filter(([a]) => a === 'reactions').at(-1), ['reactions', { id: '2-0' }]);
});

test('a live message naming this user is a mention; own messages and history are not', () => {
  const { state, changes } = setUp('Ana Silva');
  state.addMessage(message('1-0', 'thanks @ana!'), true);
  state.addMessage(message('2-0', 'Ana Silva, your turn'), false);
  state.addMessage(message('3-0', 'banana'), true);
  state.addMessage({ ...message('4-0', 'I am Ana'), user: { id: 'me', name: 'Ana Silva' } }, true);
  assert.deepEqual(changes.filter(([a]) => a === 'mention').map(([, d]) => d.message.id), ['1-0']);
});

test('mentions match whole words of the name, in any case and script', () => {
  assert.equal(mentions('hello ANA', 'Ana'), true);
  assert.equal(mentions('Hello Ana-Maria', 'Ana'), true);
  assert.equal(mentions('Hello Anastasia', 'Ana'), false);
  assert.equal(mentions('Привет, Олег!', 'Олег Иванов'), true);
  assert.equal(mentions('to Jo', 'Jo Smith'), false); // a first name under 3 letters needs the full name
  assert.equal(mentions('to jo smith', 'Jo Smith'), true);
  assert.equal(mentions('anything', ''), false);
});

test('http(s) links of allowed domains become link pieces; anything else stays text', async () => {
  const { linkPieces, linkPolicy } = await import('../src/links.js');
  const all = linkPolicy({ domains: null });
  assert.deepEqual(linkPieces('see https://example.org/a?b=1#c, then (http://x.test/wiki_(film)).', all), [
    'see ', { href: 'https://example.org/a?b=1#c', text: 'https://example.org/a?b=1#c' }, ', then (',
    { href: 'http://x.test/wiki_(film)', text: 'http://x.test/wiki_(film)' }, ').',
  ]);
  for (const text of ['javascript:alert(1)', 'data:text/html,<b>x</b>', 'ftp://example.org/f',
    'https://school.example@evil.test/', 'mailto:a@b.test', 'hxxps://example.org']) {
    assert.deepEqual(linkPieces(text, all), [text], text);
  }
  const some = linkPolicy({ domains: ['europa.eu'] });
  assert.deepEqual(linkPieces('https://www.etwinning.europa.eu/x and https://evil.test/', some), [
    { href: 'https://www.etwinning.europa.eu/x', text: 'https://www.etwinning.europa.eu/x' }, ' and https://evil.test/',
  ]);
  assert.deepEqual(linkPieces('https://noteuropa.eu/', some), ['https://noteuropa.eu/']);
  assert.deepEqual(linkPieces('https://example.org', linkPolicy(undefined)), ['https://example.org']);
  assert.deepEqual(linkPieces('https://example.org', linkPolicy({ domains: [] })), ['https://example.org']);
});

test('pupils are dealt into non-empty groups, each once', async () => {
  const { dealGroups } = await import('../src/room-groups.js');
  const groups = dealGroups(['a', 'b', 'c', 'd', 'e'], 2, () => 0.5);
  assert.equal(groups.length, 2);
  assert.deepEqual(groups.flat().sort(), ['a', 'b', 'c', 'd', 'e']);
  assert.ok(Math.abs(groups[0].length - groups[1].length) <= 1);
  assert.deepEqual(dealGroups(['a'], 5).map((g) => g.length), [1]); // never an empty group
  assert.deepEqual(dealGroups([], 3), []);
});
