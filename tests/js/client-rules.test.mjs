// The page's rules on the vectors the bots are tested with
// (tests/data/client_rules.json; Python side: tests/unit/test_client_rules.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SeqTracker } from '../../otree_redwood/static/otree-redwood/src/lib/seq.js';
import { otherDecisionOf, othersMeanOf } from '../../otree_redwood/static/otree-redwood/src/lib/decisions.js';

const vectors = JSON.parse(readFileSync(new URL('../data/client_rules.json', import.meta.url)));

for (const c of vectors.seq) {
  test(`seq: ${c.name}`, () => {
    const tracker = new SeqTracker();
    assert.deepEqual(c.frames.map((f) => tracker.accept(f)), c.verdicts);
    assert.equal(tracker.highest, c.highest);
  });
}

for (const c of vectors.decisions) {
  test(`decisions: ${JSON.stringify(c.map)} as ${c.me}`, () => {
    assert.deepEqual(otherDecisionOf(c.map, c.me), c.other);
    const mean = othersMeanOf(c.map, c.me);
    if (c.mean === null) assert.equal(mean, null);
    else assert.ok(Math.abs(mean - c.mean) < 1e-9, `${mean} != ${c.mean}`);
  });
}
