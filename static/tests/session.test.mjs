// When the browser client asks for a fresh token, and what `auth:expired` does to it
// (docs/protocol.md "Sessions and renewal"): `node --test static/tests/`. The LiveClient never
// connects; the service's event is handed to it where socket.io-client would (`received`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveClient, LocalEvents, ServerEvents, renewalDue } from '../src/protocol.js';
import { hostGraceMs } from '../src/session.js';

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');
const tokenWith = (claims) => `${b64({ alg: 'HS256' })}.${b64(claims)}.sig`;

test('a token is renewed 60 s before its end, or in the last fifth of a short life', () => {
  assert.equal(renewalDue({ iat: 1000, exp: 4600 }), 4540 * 1000);
  assert.equal(renewalDue({ iat: 1000, exp: 1010 }), 1008 * 1000);
  assert.equal(renewalDue({ exp: 5000 }), 4940 * 1000); // no iat: 60 s
  assert.equal(renewalDue({ iat: 1000 }), null);
  assert.equal(renewalDue(null), null);
});

test('a host has 15 s to answer, or half the time left', () => {
  assert.equal(hostGraceMs(1000, 900_000), 15_000);
  assert.equal(hostGraceMs(1000, 996_000), 2_000);
  assert.equal(hostGraceMs(1000, 1_002_000), 0);
});

test('the client says once that its token is due for renewal', async () => {
  const now = Math.floor(Date.now() / 1000);
  const client = new LiveClient({ token: 'x.e30.y', url: 'http://127.0.0.1:9' });
  const seen = [];
  const first = new Promise((resolve) => client.on(LocalEvents.TOKEN_EXPIRING, (detail) => {
    seen.push(detail);
    resolve();
  }));
  client.token = tokenWith({ sub: 'u', iat: now - 100, exp: now + 5 }); // due 20 s ago
  await first;
  assert.deepEqual(seen, [{ exp: now + 5 }]);
  client.token = tokenWith({ sub: 'u', iat: now, exp: now + 3600 }); // due in an hour
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(seen.length, 1);
  client.close(); // and its timer with it
});

test('auth:expired ends the session as an expired token', () => {
  const client = new LiveClient({ token: 'x.e30.y', url: 'http://127.0.0.1:9' });
  const errors = [];
  const expired = [];
  client.on(LocalEvents.AUTH_ERROR, (detail) => errors.push(detail.code));
  client.on(ServerEvents.AUTH_EXPIRED, (detail) => expired.push(detail));
  client.received(ServerEvents.AUTH_EXPIRED, {});
  assert.deepEqual(errors, ['expired']);
  assert.deepEqual(expired, [{}]);
  assert.equal(client.authError.code, 'expired');
});
