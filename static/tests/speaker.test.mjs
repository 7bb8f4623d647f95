// The speaker view's choice of the active speaker, without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ActiveSpeaker, SPEAKING_LEVEL, receivedLevels } from '../src/speaker.js';

const levels = (entries) => new Map(Object.entries(entries));

test('nobody speaks: no speaker', () => {
  assert.equal(new ActiveSpeaker().observe(levels({ a: 0, b: SPEAKING_LEVEL / 2 })), null);
});

test('the loudest speaker wins, and keeps the tile through silence', () => {
  const speaker = new ActiveSpeaker();
  assert.equal(speaker.observe(levels({ a: 0.2, b: 0.5 })), 'b');
  assert.equal(speaker.observe(levels({ a: 0, b: 0 })), 'b');
  assert.equal(speaker.observe(levels({ a: SPEAKING_LEVEL, b: 0 })), 'a');
});

test('a speaker who left gives the tile up', () => {
  const speaker = new ActiveSpeaker();
  speaker.observe(levels({ a: 0.3 }));
  assert.equal(speaker.observe(levels({ b: 0 })), null);
});

test('levels are read from each received audio track, by the stream\'s user', () => {
  const receiver = (kind, audioLevel) => ({
    track: { kind }, getSynchronizationSources: () => (audioLevel === null ? [] : [{ audioLevel }]),
  });
  const legs = new Map([
    ['s1', { pc: { getReceivers: () => [receiver('video', 0.9), receiver('audio', 0.4)] } }],
    ['s2', { pc: { getReceivers: () => [receiver('audio', null)] } }],
    ['s3', null],
    ['s4', { pc: { getReceivers: () => [receiver('audio', 0.7)] } }],
  ]);
  const streams = new Map([['s1', { user: 'a' }], ['s2', { user: 'b' }], ['s3', { user: 'c' }]]);
  assert.deepEqual(receivedLevels(legs, streams), levels({ a: 0.4, b: 0 }));
});
