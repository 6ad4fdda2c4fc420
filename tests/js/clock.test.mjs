import {test} from 'node:test';
import assert from 'node:assert/strict';
import {ClockEstimator} from '../../otree_redwood/static/otree-redwood/src/lib/clock.js';

test('symmetric round trip gives the exact offset', () => {
  const c = new ClockEstimator();
  // local 1000 -> server (offset +5000) reads 6020 at local 1020 -> back at 1040
  assert.equal(c.addSample(1000, 1040, 6020), true);
  assert.equal(c.offsetMs, 5000);
  assert.equal(c.rttMs, 40);
  assert.equal(c.serverNow(2000), 7000);
});

test('rtt is a moving average', () => {
  const c = new ClockEstimator({alpha: 0.5});
  c.addSample(0, 100, NaN);
  c.addSample(1000, 1020, NaN);
  assert.equal(c.lastRttMs, 20);
  assert.equal(c.rttMs, 60);
  assert.equal(c.offsetMs, null, 'no server_ts, no offset');
});

test('the offset comes from the lowest-rtt samples', () => {
  const trueOffset = -3000;
  const c = new ClockEstimator({best: 1});
  // asymmetric slow samples: the reply path took most of the time
  c.addSample(0, 400, 0 + 20 + trueOffset);        // estimate off by 180
  c.addSample(1000, 1010, 1005 + trueOffset);      // fast, symmetric: exact
  c.addSample(2000, 2600, 2000 + 30 + trueOffset); // slow again
  assert.equal(c.offsetMs, trueOffset);
});

test('averaging the best few smooths jitter', () => {
  const c = new ClockEstimator({best: 3});
  c.addSample(0, 10, 5 + 100 + 2);
  c.addSample(10, 20, 15 + 100 - 2);
  c.addSample(20, 30, 25 + 100);
  c.addSample(40, 540, 290 + 900);   // a bad, slow sample is ignored
  assert.equal(c.offsetMs, 100);
});

test('old samples leave the window', () => {
  const c = new ClockEstimator({window: 3, best: 1});
  c.addSample(0, 2, 1 + 50);            // best rtt, offset 50
  for (let i = 1; i <= 3; i++) c.addSample(i * 1000, i * 1000 + 10, i * 1000 + 5 + 70);
  assert.equal(c.offsetMs, 70, 'the clock may have been adjusted; recent samples win');
});

test('implausible samples are ignored', () => {
  const c = new ClockEstimator();
  assert.equal(c.addSample(100, 50, 0), false);
  assert.equal(c.addSample(NaN, 50, 0), false);
  assert.equal(c.rttMs, null);
  assert.equal(c.offsetMs, null);
  assert.equal(c.serverNow(10), 10);
});
