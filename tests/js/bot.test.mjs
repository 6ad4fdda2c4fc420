import {test} from 'node:test';
import assert from 'node:assert/strict';
import {bestResponse, stepToward, nextMove, exponentialWait}
  from '../../otree_redwood/static/otree-redwood/src/lib/bot.js';

// Cournot-like payoff: best response to o is (1 - o) / 2
const cournot = (m, o) => m * (1 - m - o);

test('best response maximises the payoff on the grid', () => {
  assert.ok(Math.abs(bestResponse(cournot, 0.2) - 0.4) < 1e-9);
  assert.ok(Math.abs(bestResponse(cournot, 0) - 0.5) < 1e-9);
  assert.equal(bestResponse((m) => -Math.abs(m - 0.73), null, {gridSize: 101}).toFixed(2), '0.73');
});

test('ties go to the grid point closest to the current decision', () => {
  const flat = () => 1;
  assert.equal(bestResponse(flat, 0, {current: 0.62, gridSize: 11}).toFixed(1), '0.6');
  assert.equal(bestResponse(flat, 0, {current: 0, gridSize: 11}), 0);
});

test('no finite payoff anywhere gives null', () => {
  assert.equal(bestResponse(() => NaN, 0), null);
});

test('a step moves at most `velocity` toward the target', () => {
  assert.ok(Math.abs(stepToward(0.1, 0.9, 0.25) - 0.35) < 1e-12);
  assert.ok(Math.abs(stepToward(0.9, 0.1, 0.25) - 0.65) < 1e-12);
  assert.equal(stepToward(0.5, 0.6, 0.25), 0.6, 'arrives exactly when close');
  assert.equal(stepToward(0.5, 0.6, undefined), 0.6, 'no velocity: jump');
  assert.equal(stepToward(undefined, 0.6, 0.1), 0.6, 'no current value: jump');
  assert.equal(stepToward('a', 'b', 0.1), 'b', 'non-numeric: jump');
});

test('repeated moves converge to the best response at the given velocity', () => {
  let my = 0;
  const steps = [];
  for (let i = 0; i < 10; i++) {
    my = nextMove({myDecision: my, otherDecision: 0.2, payoffFunction: cournot, velocity: 0.1}).decision;
    steps.push(my);
  }
  assert.ok(Math.abs(steps[0] - 0.1) < 1e-9);
  assert.ok(Math.abs(steps[2] - 0.3) < 1e-9);
  assert.ok(Math.abs(steps[9] - 0.4) < 1e-9, 'settles on the best response');
  assert.equal(steps.indexOf(steps[9]), 3, 'arrives in 4 steps, without a rounding-error extra step');
});

test('pattern: heads for each value in turn and cycles', () => {
  const pattern = [0, 1];
  let state = {myDecision: 0.5, pattern, patternIndex: 0, velocity: 0.5};
  const seen = [];
  for (let i = 0; i < 6; i++) {
    const m = nextMove(state);
    seen.push(m.decision);
    state = {...state, myDecision: m.decision, patternIndex: m.patternIndex};
  }
  // 0.5 -> 0 (reached) -> 0.5 -> 1 (reached) -> 0.5 -> 0
  assert.deepEqual(seen, [0, 0.5, 1, 0.5, 0, 0.5]);
});

test('pattern of non-numeric values jumps and cycles', () => {
  let state = {myDecision: null, pattern: ['a', 'b', 'c'], patternIndex: 0, velocity: 0.1};
  const seen = [];
  for (let i = 0; i < 4; i++) {
    const m = nextMove(state);
    seen.push(m.decision);
    state = {...state, myDecision: m.decision, patternIndex: m.patternIndex};
  }
  assert.deepEqual(seen, ['a', 'b', 'c', 'a']);
});

test('without payoff function or pattern it wanders within [0, 1]', () => {
  const r = [0.3, 0.9];
  let i = 0;
  const m = nextMove({myDecision: 0.5, velocity: 1}, () => r[i++]);
  assert.equal(m.decision, 0.3);
});

test('waits are exponential with mean 1/lambda', () => {
  assert.equal(exponentialWait(2, () => 0), 0);
  assert.ok(Math.abs(exponentialWait(2, () => 1 - Math.exp(-1)) - 0.5) < 1e-12);
  let s = 0;
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const n = 20000;
  for (let i = 0; i < n; i++) s += exponentialWait(4, rnd);
  assert.ok(Math.abs(s / n - 0.25) < 0.02, `mean ${s / n}`);
  assert.ok(Number.isFinite(exponentialWait(0, () => 0.5)), 'bad lambda falls back to 1');
});
