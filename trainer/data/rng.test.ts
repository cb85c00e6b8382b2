import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, hashInts } from './rng.js';

// Reference values from the authors' public-domain xoshiro128starstar.c,
// compiled and run once; seeding through splitmix64 as in splitmix64.c.
test('xoshiro128** matches the reference C implementation', () => {
  const rng = Rng.fromState([1, 2, 3, 4]);
  assert.deepEqual(Array.from({ length: 6 }, () => rng.nextU32()), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  const seeded = Rng.fromSeed(42);
  assert.deepEqual(seeded.state(), [803958421, 3184996902, 2993090819, 686809907]);
  assert.deepEqual(Array.from({ length: 6 }, () => seeded.nextU32()), [1776835114, 4165204688, 17111135, 2317295270, 2792088233, 2554630222]);
});

test('state round-trips through JSON and continues the same stream', () => {
  const a = Rng.fromSeed(7);
  for (let i = 0; i < 1000; i++) {
    a.nextU32();
    assert.ok(a.state().every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff), 'state words are uint32');
  }
  const b = Rng.fromState(JSON.parse(JSON.stringify(a.state())));
  for (let i = 0; i < 100; i++) assert.equal(b.nextU32(), a.nextU32());
  assert.throws(() => Rng.fromState([0, 0, 0, 0]), /all zero/);
  assert.throws(() => Rng.fromState([1, 2, 3] as never), /four uint32/);
  assert.throws(() => Rng.fromState([1, 2, 3, 2 ** 32]), /four uint32/);
});

test('int(n) is uniform and in range; float in [0, 1)', () => {
  const rng = Rng.fromSeed(1);
  const counts = new Array(10).fill(0);
  const draws = 100_000;
  for (let i = 0; i < draws; i++) counts[rng.int(10)]++;
  // Chi-square with 9 degrees of freedom; 27.9 is the 0.999 quantile.
  const chi2 = counts.reduce((s, c) => s + (c - draws / 10) ** 2 / (draws / 10), 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2}`);
  for (let i = 0; i < 10_000; i++) {
    const f = rng.float();
    assert.ok(f >= 0 && f < 1);
  }
  assert.throws(() => rng.int(0), RangeError);
});

test('permutation is a permutation, and seeds differ', () => {
  const p = Rng.fromSeed(3).permutation(1000);
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_v, i) => i));
  assert.notDeepEqual(p, Rng.fromSeed(4).permutation(1000));
  assert.deepEqual(p, Rng.fromSeed(3).permutation(1000));
});

test('hashInts separates nearby inputs', () => {
  const seen = new Set<number>();
  for (let a = 0; a < 50; a++) for (let b = 0; b < 50; b++) seen.add(hashInts(1, a, b));
  assert.equal(seen.size, 2500);
  assert.notEqual(hashInts(1, 2), hashInts(2, 1));
});

test('fromHash: deterministic, distinct per hash, and its state restores', () => {
  const a = Rng.fromHash(hashInts(1, 2, 3));
  const b = Rng.fromHash(hashInts(1, 2, 3));
  assert.deepEqual(a.state(), b.state());
  assert.notDeepEqual(Rng.fromHash(hashInts(1, 2, 4)).state(), a.state());
  a.nextU32();
  assert.equal(Rng.fromState(a.state()).nextU32(), a.nextU32());
  assert.ok(Rng.fromHash(0).state().some((w) => w !== 0));
});
