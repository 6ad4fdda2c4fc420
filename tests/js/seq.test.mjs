import {test} from 'node:test';
import assert from 'node:assert/strict';
import {SeqTracker} from '../../otree_redwood/static/otree-redwood/src/lib/seq.js';

test('exact duplicates are dropped', () => {
  const s = new SeqTracker();
  assert.equal(s.accept({channel: 'tick', seq: 5}), 'ok');
  assert.equal(s.accept({channel: 'tick', seq: 5}), 'duplicate');
  assert.equal(s.accept({channel: 'tick', seq: 6}), 'ok');
});

test('the highest seq is tracked even when frames arrive out of order', () => {
  const s = new SeqTracker();
  assert.equal(s.highest, null);
  s.accept({channel: 'a', seq: 10});
  s.accept({channel: 'a', seq: 12});
  assert.equal(s.accept({channel: 'a', seq: 11}), 'ok', 'an older custom frame is still delivered');
  assert.equal(s.highest, 12);
});

test('older group_decisions are ignored, newer applied', () => {
  const s = new SeqTracker();
  assert.equal(s.accept({channel: 'group_decisions', seq: 20}), 'ok');
  assert.equal(s.accept({channel: 'group_decisions', seq: 18}), 'stale');
  assert.equal(s.lastApplied('group_decisions'), 20);
  assert.equal(s.accept({channel: 'group_decisions', seq: 25}), 'ok');
  assert.equal(s.lastApplied('group_decisions'), 25);
});

test('state follows the same latest-wins rule, independently of group_decisions', () => {
  const s = new SeqTracker();
  s.accept({channel: 'state', seq: 3});
  s.accept({channel: 'group_decisions', seq: 9});
  assert.equal(s.accept({channel: 'state', seq: 4}), 'ok');
  assert.equal(s.accept({channel: 'state', seq: 2}), 'stale');
  assert.equal(s.lastApplied('state'), 4);
});

test('frames without seq always pass', () => {
  const s = new SeqTracker();
  assert.equal(s.accept({channel: 'error', payload: {reason: 'x'}}), 'ok');
  assert.equal(s.accept({channel: 'error', payload: {reason: 'x'}}), 'ok');
  assert.equal(s.highest, null);
});

test('memory is bounded: only the last `capacity` seqs are remembered', () => {
  const s = new SeqTracker({capacity: 100});
  for (let i = 1; i <= 1000; i++) s.accept({channel: 'x', seq: i});
  assert.equal(s.hasSeen(1000), true);
  assert.equal(s.hasSeen(901), true);
  assert.equal(s.hasSeen(900), false);
  assert.equal(s.accept({channel: 'x', seq: 1000}), 'duplicate');
  assert.equal(s.highest, 1000);
});
