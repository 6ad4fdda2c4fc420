import {test} from 'node:test';
import assert from 'node:assert/strict';
import {PeriodClock, formatSeconds}
  from '../../otree_redwood/static/otree-redwood/src/lib/period-clock.js';
import {ClockEstimator} from '../../otree_redwood/static/otree-redwood/src/lib/clock.js';

const T0 = 1_700_000_000_000;
const start = {channel: 'state', payload: 'period_start', seq: 1, ts: T0};

test('time left counts down from period_start ts + period length', () => {
  const c = new PeriodClock();
  assert.equal(c.remainingMs(T0), null);
  assert.equal(c.onState(start, 60), true);
  assert.equal(c.startTs, T0);
  assert.equal(c.endTs, T0 + 60000);
  assert.equal(c.remainingMs(T0), 60000);
  assert.equal(c.remainingMs(T0 + 12500), 47500);
  assert.equal(c.fraction(T0 + 15000), 0.25);
  assert.equal(c.remainingMs(T0 + 61000), 0);  // never negative
});

test('a period without a length has no time left, but a start', () => {
  const c = new PeriodClock();
  c.onState(start, null);
  assert.equal(c.startTs, T0);
  assert.equal(c.remainingMs(T0 + 1000), null);
  assert.equal(c.fraction(T0 + 1000), null);
});

test('period_end_ts on the frame wins over the length', () => {
  const c = new PeriodClock();
  c.onState({...start, period_end_ts: T0 + 5000}, 60);
  assert.equal(c.remainingMs(T0 + 1000), 4000);
});

test('period_end means zero left whatever the clock says', () => {
  const c = new PeriodClock();
  c.onState(start, 60);
  c.onState({channel: 'state', payload: 'period_end', seq: 9, ts: T0 + 60004}, 60);
  assert.equal(c.ended, true);
  assert.equal(c.remainingMs(T0 + 1000), 0);
  assert.equal(c.fraction(T0 + 1000), 1);
  // a late replay of period_start does not restart it
  assert.equal(c.onState(start, 60), false);
  assert.equal(c.remainingMs(T0), 0);
});

test('after a reconnect the replayed period_start gives the same end', () => {
  const first = new PeriodClock();
  first.onState(start, 30);
  // the page reloads 10 s later: the server replays the stored state, same ts
  const again = new PeriodClock();
  again.onState({...start, seq: 7}, 30);
  assert.equal(again.endTs, first.endTs);
  assert.equal(again.remainingMs(T0 + 10000), 20000);
});

test('a page whose clock is wrong still shows the server time left', () => {
  // the PC's clock is 90 s behind the server's
  const est = new ClockEstimator();
  const local = T0 - 90000;
  est.addSample(local, local + 40, T0 + 20);
  const c = new PeriodClock();
  c.onState(start, 60);
  const localNow = local + 40 + 5000;  // 5 s after the reply, server time T0 + 5040
  assert.ok(Math.abs(c.remainingMs(est.serverNow(localNow)) - 54960) < 1);
});

test('garbage state messages change nothing', () => {
  const c = new PeriodClock();
  assert.equal(c.onState(null, 60), false);
  assert.equal(c.onState({channel: 'state', payload: 'what'}, 60), false);
  c.onState({channel: 'state', payload: 'period_start', ts: 'x'}, 'abc');
  assert.equal(c.remainingMs(T0), null);
});

test('formats', () => {
  assert.equal(formatSeconds(65), '01:05');
  assert.equal(formatSeconds(64.2), '01:05');  // rounded up
  assert.equal(formatSeconds(0.01), '00:01');
  assert.equal(formatSeconds(0), '00:00');
  assert.equal(formatSeconds(-3), '00:00');
  assert.equal(formatSeconds(65, 'm:ss'), '1:05');
  assert.equal(formatSeconds(3725, 'hh:mm:ss'), '01:02:05');
  assert.equal(formatSeconds(600, 'mm:ss'), '10:00');
  assert.equal(formatSeconds(4.01, 's'), '5');
  assert.equal(formatSeconds(4.01, 's.s'), '4.1');
  assert.equal(formatSeconds(null), '');
});
