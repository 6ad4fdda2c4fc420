import {test} from 'node:test';
import assert from 'node:assert/strict';
import {Backoff} from '../../otree_redwood/static/otree-redwood/src/lib/backoff.js';

test('delays double up to the cap (no jitter)', () => {
  const b = new Backoff({initialMs: 500, maxMs: 10000, jitter: 0});
  const delays = Array.from({length: 8}, () => b.next());
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]);
});

test('jitter keeps each delay within [base*(1-jitter), base]', () => {
  for (const r of [0, 0.25, 0.999999]) {
    const b = new Backoff({initialMs: 500, maxMs: 10000, jitter: 0.5, random: () => r});
    let base = 500;
    for (let i = 0; i < 10; i++) {
      const d = b.next();
      assert.ok(d <= base && d >= base * 0.5, `attempt ${i}: ${d} not in [${base / 2}, ${base}]`);
      base = Math.min(10000, base * 2);
    }
  }
});

test('jitter spreads the delays of many clients', () => {
  const seen = new Set();
  for (let i = 0; i < 50; i++) seen.add(Math.round(new Backoff().next()));
  assert.ok(seen.size > 10);
});

test('reset starts again from the initial delay', () => {
  const b = new Backoff({jitter: 0});
  b.next(); b.next(); b.next();
  assert.equal(b.next(), 4000);
  b.reset();
  assert.equal(b.next(), 500);
});

test('many failures never overflow past the cap', () => {
  const b = new Backoff({jitter: 0});
  for (let i = 0; i < 5000; i++) b.next();
  assert.equal(b.next(), 10000);
});

test('invalid parameters are refused', () => {
  assert.throws(() => new Backoff({initialMs: 0}), RangeError);
  assert.throws(() => new Backoff({initialMs: 100, maxMs: 50}), RangeError);
  assert.throws(() => new Backoff({jitter: 2}), RangeError);
});
