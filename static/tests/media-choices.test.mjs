// What the classroom page decides without a browser: the devices it remembers, how long it
// waits before trying a failed leg again, and which ends of my own stream it repairs
// (docs/protocol.md "Videoconference"): `node --test static/tests/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Devices, NONE } from '../src/devices.js';
import { ON_PURPOSE_ENDS } from '../src/protocol.js';
import { backoffMs } from '../src/room-rtc.js';

/** A Storage with the methods Devices uses; `broken` throws as a full or refused storage does. */
function storage({ broken = false, items = {} } = {}) {
  return {
    items,
    getItem(key) { return key in items ? items[key] : null; },
    setItem(key, value) {
      if (broken) throw new Error('QuotaExceededError');
      items[key] = String(value);
    },
  };
}

test('a choice of devices is remembered, and asked as ideal so a missing device falls back', () => {
  const kept = storage();
  new Devices(kept).choose({ camera: 'cam-2', mic: NONE });
  const again = new Devices(kept);
  assert.equal(again.camera, 'cam-2');
  assert.equal(again.mic, NONE);
  assert.deepEqual(again.video(), { width: 640, height: 480, deviceId: { ideal: 'cam-2' } });
  assert.equal(again.audio(), true); // "no microphone" picked: the default if asked anyway
  again.choose({ mic: 'mic-1' });
  assert.deepEqual(new Devices(kept).audio(), { deviceId: { ideal: 'mic-1' } });
  assert.equal(new Devices(kept).camera, 'cam-2');
});

test('an unreadable or refusing storage leaves the defaults, and the choice for the page', () => {
  const junk = new Devices(storage({ items: { 'twinspace-live:devices': '{not json' } }));
  assert.equal(junk.camera, '');
  assert.deepEqual(junk.video(), { width: 640, height: 480 });
  const full = new Devices(storage({ broken: true }));
  full.choose({ camera: 'cam-1' });
  assert.equal(full.camera, 'cam-1');
  const none = new Devices(null);
  none.choose({ mic: 'x' });
  assert.equal(none.mic, 'x');
});

test('a failed leg is tried again after 1, 2, 4 … seconds, never more than 15', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 20].map(backoffMs), [1000, 2000, 4000, 8000, 15000, 15000, 15000]);
});

test('my stream ended on purpose is left alone; by accident, or for no reason given, repaired', () => {
  for (const reason of ['stopped', 'replaced', 'policy', 'left']) assert.ok(ON_PURPOSE_ENDS.has(reason));
  for (const reason of ['ended', 'moved', undefined]) assert.ok(!ON_PURPOSE_ENDS.has(reason));
});
