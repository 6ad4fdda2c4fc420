import {test} from 'node:test';
import assert from 'node:assert/strict';
import {otherDecisionOf, othersMeanOf, jsonEqual, parseJsonish}
  from '../../otree_redwood/static/otree-redwood/src/lib/decisions.js';

test('two players: the other player\'s decision, whatever its type', () => {
  assert.equal(otherDecisionOf({me: 0.2, you: 0.7}, 'me'), 0.7);
  assert.deepEqual(otherDecisionOf({me: 'x', you: {a: 1}}, 'me'), {a: 1});
});

test('larger groups: the first other member in the map, as 0.9.x', () => {
  assert.equal(otherDecisionOf({me: 1, a: 0.2, b: 0.4, c: 0.6}, 'me'), 0.2);
  assert.equal(otherDecisionOf({a: 0.7, me: 1, b: 0.4}, 'me'), 0.7);
  assert.equal(otherDecisionOf({me: 1, a: null, b: 0.4}, 'me'), null, 'a null decision is the value');
});

test('othersMean: mean of the others\' numeric decisions', () => {
  assert.ok(Math.abs(othersMeanOf({me: 1, a: 0.2, b: 0.4, c: 0.6}, 'me') - 0.4) < 1e-12);
  assert.equal(othersMeanOf({me: 0, a: 1, b: 2, c: 6}, 'me'), 3);
  assert.equal(othersMeanOf({me: 1, a: 0.5, b: 'n/a', c: null}, 'me'), 0.5);
  assert.equal(othersMeanOf({me: 1, a: 'x', b: 'y'}, 'me'), null);
  assert.equal(othersMeanOf(null, 'me'), null);
});

test('no others or no map gives null', () => {
  assert.equal(otherDecisionOf({me: 1}, 'me'), null);
  assert.equal(otherDecisionOf(null, 'me'), null);
});

test('jsonEqual compares structurally', () => {
  assert.ok(jsonEqual({a: [1, {b: 2}]}, {a: [1, {b: 2}]}));
  assert.ok(!jsonEqual({a: [1, 2]}, {a: [1, 3]}));
  assert.ok(!jsonEqual([1], {0: 1}));
  assert.ok(!jsonEqual(0, '0'));
  assert.ok(jsonEqual(0.5, 0.5));
});

test('attribute values parse as JSON when they can', () => {
  assert.equal(parseJsonish('0.5'), 0.5);
  assert.deepEqual(parseJsonish('[1,2]'), [1, 2]);
  assert.equal(parseJsonish('cooperate'), 'cooperate');
  assert.equal(parseJsonish('true'), true);
});
