import {test} from 'node:test';
import assert from 'node:assert/strict';
import {RateLimiter} from '../../otree_redwood/static/otree-redwood/src/lib/rate-limiter.js';
import {FakeClock} from './fake-clock.mjs';

function setup(maxPerSecond) {
  const clock = new FakeClock();
  const sent = [];
  const limiter = new RateLimiter((v) => sent.push({v, t: clock.t}), {
    maxPerSecond, now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
  });
  return {clock, sent, limiter};
}

test('without a limit every value is sent at once', () => {
  const {sent, limiter} = setup(null);
  for (let i = 0; i < 50; i++) limiter.push(i);
  assert.deepEqual(sent.map((s) => s.v), [...Array(50).keys()]);
});

test('first value goes out immediately', () => {
  const {sent, limiter} = setup(5);
  limiter.push('a');
  assert.deepEqual(sent.map((s) => s.v), ['a']);
  assert.equal(limiter.pending, false);
});

test('the latest value is always sent once the limit allows', () => {
  const {clock, sent, limiter} = setup(2);
  limiter.push(1);
  limiter.push(2);
  limiter.push(3);
  assert.deepEqual(sent.map((s) => s.v), [1]);
  assert.equal(limiter.pending, true);
  clock.advance(499);
  assert.deepEqual(sent.map((s) => s.v), [1]);
  clock.advance(1);
  // 2 was superseded by 3 and skipped; 3 (the latest) is sent at 500 ms
  assert.deepEqual(sent.map((s) => s.v), [1, 3]);
  assert.equal(sent[1].t - sent[0].t, 500);
  assert.equal(limiter.pending, false);
  assert.equal(clock.pendingTimers, 0);
});

test('never more than N per second under a continuous stream, last value delivered', () => {
  const N = 10;
  const {clock, sent, limiter} = setup(N);
  // a slider moved every 7 ms for 3 s
  let last;
  for (let i = 0; i < 430; i++) {
    last = i;
    limiter.push(i);
    clock.advance(7);
  }
  clock.advance(2000);
  assert.equal(sent[sent.length - 1].v, last, 'final value must reach the server');
  for (let i = 0; i < sent.length; i++) {
    const inWindow = sent.filter((s) => s.t >= sent[i].t && s.t < sent[i].t + 1000).length;
    assert.ok(inWindow <= N, `${inWindow} sends in one second`);
  }
  // and it is not needlessly slow: about N per second while the stream lasts
  assert.ok(sent.length >= 3 * N - 1, `only ${sent.length} sends in 3 s`);
  // values are sent in order
  const vs = sent.map((s) => s.v);
  assert.deepEqual(vs, [...vs].sort((a, b) => a - b));
});

test('a value pushed after a quiet period goes out at once', () => {
  const {clock, sent, limiter} = setup(1);
  limiter.push('x');
  clock.advance(5000);
  limiter.push('y');
  assert.deepEqual(sent.map((s) => s.v), ['x', 'y']);
});

test('fractional rates space sends further apart', () => {
  const {clock, sent, limiter} = setup(0.5);
  limiter.push(1);
  limiter.push(2);
  clock.advance(1999);
  assert.equal(sent.length, 1);
  clock.advance(1);
  assert.deepEqual(sent.map((s) => s.v), [1, 2]);
});

test('raising the limit to unlimited flushes the pending value', () => {
  const {sent, limiter} = setup(1);
  limiter.push(1);
  limiter.push(2);
  assert.equal(sent.length, 1);
  limiter.maxPerSecond = 0;
  assert.deepEqual(sent.map((s) => s.v), [1, 2]);
});

test('cancel drops the pending value', () => {
  const {clock, sent, limiter} = setup(1);
  limiter.push(1);
  limiter.push(2);
  limiter.cancel();
  clock.advance(5000);
  assert.deepEqual(sent.map((s) => s.v), [1]);
});
