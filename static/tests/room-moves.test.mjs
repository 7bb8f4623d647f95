// Moves between a main room and its groups (static/src/room-groups.js), without a browser:
// `location` is a stand-in that records the pages asked for.
import assert from 'node:assert/strict';
import { test } from 'node:test';

const asked = [];
globalThis.location = { pathname: '/room/maths-g1-ab', assign: (path) => asked.push(path) };
const { goToRoom } = await import('../src/room-groups.js');

test('the page goes once to a room it is asked for twice (a move heard and the own recall)', () => {
  const client = { token: 'x.e30.y' };
  goToRoom(client, 'maths');
  goToRoom(client, 'maths');
  assert.deepEqual(asked, ['/room/maths']);
  goToRoom(client, 'maths-g2-cd'); // another page is still asked for
  assert.deepEqual(asked, ['/room/maths', '/room/maths-g2-cd']);
});
