// The breakout splits (mix schools, by hand), without a browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dealGroups, handGroups, mixSchools } from '../src/group-split.js';

const pupils = (spec) => Object.entries(spec).flatMap(([school, n]) =>
  Array.from({ length: n }, (_, i) => ({ id: `${school || 'none'}${i}`, school: school || undefined })));
const schoolOf = (id) => id.replace(/\d+$/, '');

test('mixing schools: every group holds every school, sizes within one', () => {
  for (const random of [Math.random, () => 0, () => 0.999]) {
    const groups = mixSchools(pupils({ A: 7, B: 5, C: 3 }), 3, random);
    assert.equal(groups.length, 3);
    for (const g of groups) assert.deepEqual(new Set(g.map(schoolOf)), new Set(['A', 'B', 'C']));
    const sizes = groups.map((g) => g.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
    assert.equal(new Set(groups.flat()).size, 15);
  }
});

test('mixing schools: no more groups than the smallest school has pupils', () => {
  const groups = mixSchools(pupils({ A: 6, B: 2 }), 4);
  assert.equal(groups.length, 2);
  for (const g of groups) assert.deepEqual(new Set(g.map(schoolOf)), new Set(['A', 'B']));
});

test('mixing schools: pupils without a school fill the smallest groups', () => {
  const groups = mixSchools(pupils({ A: 3, B: 2, '': 1 }), 2, () => 0);
  assert.deepEqual(groups.map((g) => g.length), [3, 3]);
  assert.equal(groups.flat().filter((id) => id.startsWith('none')).length, 1);
});

test('mixing schools: one school or none is a plain split; nobody gives nothing', () => {
  assert.deepEqual(mixSchools(pupils({ A: 4 }), 2).map((g) => g.length), [2, 2]);
  assert.deepEqual(mixSchools(pupils({ '': 3 }), 2).map((g) => g.length).sort(), [1, 2]);
  assert.deepEqual(mixSchools([], 3), []);
});

test('by hand: groups in number order, empty groups and the main room dropped', () => {
  const assignment = new Map([['a', 2], ['b', 0], ['c', 2], ['d', 5], ['e', 1]]);
  assert.deepEqual(handGroups(assignment), [['e'], ['a', 'c'], ['d']]);
  assert.deepEqual(handGroups(new Map([['a', 0]])), []);
});

test('at random still deals everyone, no group empty', () => {
  assert.deepEqual(dealGroups(['a', 'b', 'c'], 5).map((g) => g.length), [1, 1, 1]);
});
