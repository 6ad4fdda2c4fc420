import {test} from 'node:test';
import assert from 'node:assert/strict';
import {nextInterval, gradientMove, patternMove, arrayPatternMove, patternAttribute,
        makeRedwoodDecisionBot, PATTERN_INTERVAL_MS}
  from '../../otree_redwood/static/otree-redwood/src/lib/bot.js';
import {FakeClock} from './fake-clock.mjs';
import {FakeSocket, record} from './fake-socket.mjs';

/** A random() that returns the given values in turn. */
const seq = (...values) => { let i = 0; return () => values[i++ % values.length]; };

test('gradient moves come every 100 to 1000 ms', () => {
  assert.equal(nextInterval(() => 0), 100);
  assert.equal(nextInterval(() => 0.999999), 999);
});

test('gradient: a random decision with probability lambda, or while a decision is unknown', () => {
  const payoffFunction = (m, o) => m * o;
  assert.deepEqual(gradientMove({myDecision: 0.5, otherDecision: 0.5, payoffFunction, lambda: 0.3},
                                seq(0.2, 0.77)), {decision: 0.77, direction: undefined});
  assert.equal(gradientMove({myDecision: null, otherDecision: 0.5, payoffFunction}, seq(0.9, 0.4)).decision, 0.4);
  assert.equal(gradientMove({myDecision: 0.5, otherDecision: NaN, payoffFunction}, seq(0.9, 0.4)).decision, 0.4);
  // 0.9.x threw without a payoff function; a random decision instead
  assert.equal(gradientMove({myDecision: 0.5, otherDecision: 0.5}, seq(0.9, 0.4)).decision, 0.4);
});

test('gradient: steps up or down by at most velocity toward a higher payoff', () => {
  const up = gradientMove({myDecision: 0.5, otherDecision: 1, payoffFunction: (m) => m,
                           velocity: 0.2, lambda: 0.1}, seq(0.5, 0.5, 0.5));
  assert.deepEqual(up, {decision: 0.6, direction: 'up'});
  const down = gradientMove({myDecision: 0.5, otherDecision: 1, payoffFunction: (m) => -m,
                             velocity: 0.2, lambda: 0.1}, seq(0.5, 0.5, 0.5));
  assert.deepEqual(down, {decision: 0.4, direction: 'down'});
  const none = gradientMove({myDecision: 0.5, otherDecision: 1, payoffFunction: (m) => -Math.abs(m - 0.5),
                             velocity: 0.2, lambda: 0.1}, seq(0.5, 0.5, 0.5));
  assert.deepEqual(none, {decision: 0.5, direction: 'none'});
  const capped = gradientMove({myDecision: 0.95, otherDecision: 1, payoffFunction: (m) => m,
                               velocity: 0.2, lambda: 0.1}, seq(0.5, 1, 0.5));
  assert.equal(capped.decision, 1);
});

test('pattern = true alternates lambda and 1 - lambda', () => {
  assert.equal(patternMove(undefined, 1), 1);
  assert.equal(patternMove(1, 1), 0);
  assert.equal(patternMove(0, 1), 1);
  assert.equal(patternMove(0.1, 0.1), 0.9);
  assert.equal(patternMove(0.9, 0.1), 0.1);
});

test('array pattern cycles; the attribute is JSON, or true when empty (Polymer Boolean)', () => {
  assert.deepEqual(arrayPatternMove([0.1, 0.9], -1), {decision: 0.1, index: 0});
  assert.deepEqual(arrayPatternMove([0.1, 0.9], 1), {decision: 0.1, index: 0});
  assert.deepEqual(patternAttribute('[0.1, 0.9]'), [0.1, 0.9]);
  assert.equal(patternAttribute(''), true);
  assert.equal(patternAttribute(null), false);
});

function bot(globals = {debug: true}) {
  const socket = new FakeSocket();
  const clock = new FakeClock();
  const target = {myDecision: undefined, otherDecision: undefined, driven: false};
  const Cls = makeRedwoodDecisionBot(EventTarget, {
    socket: () => socket, globals: () => globals, decision: () => null,
    setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, random: seq(0.5),
  });
  return {el: new Cls(), socket, clock, target};
}

test('bot: 0.9.x defaults', () => {
  const {el} = bot();
  assert.equal(el.velocity, 0.1);
  assert.equal(el.lambda, 0.1);
  assert.equal(el.pattern, false);
  assert.equal(el.debug, true);
  assert.ok(!el.running);
});

test('bot: in debug mode it plays while the period runs, and stops at its end', () => {
  const {el, socket, clock} = bot();
  el.pattern = [0.1, 0.9];
  el.connectedCallback();
  const log = record(el, ['my-decision-changed']);
  clock.advance(2000);
  assert.deepEqual(log, [], 'not before period_start');
  socket.receive('state', 'period_start');
  assert.equal(el.running, true);
  clock.advance(PATTERN_INTERVAL_MS * 4);
  assert.ok(log.length >= 2, log);
  socket.receive('state', 'period_end');
  assert.equal(el.running, false);
  const n = log.length;
  clock.advance(5000);
  assert.equal(log.length, n);
});

test('bot: without debug only `active` or start() makes it play; stop() stops it', () => {
  const {el, socket, clock} = bot({debug: false});
  el.attributeChangedCallback('pattern', null, '[0.1, 0.9]');
  el.connectedCallback();
  socket.receive('state', 'period_start');
  const log = record(el, ['my-decision-changed']);
  clock.advance(3000);
  assert.deepEqual(log, []);
  el.start();
  clock.advance(1000);
  assert.ok(log.length >= 1);
  el.stop();
  const n = log.length;
  clock.advance(3000);
  assert.equal(log.length, n);
  el.attributeChangedCallback('active', null, '');
  clock.advance(1000);
  assert.ok(log.length > n);
});

test('bot: pattern = true with lambda = 1 plays 1, 0, 1, ... (a page\'s pure strategies)', () => {
  const {el, socket, clock} = bot();
  el.lambda = 1;
  el.pattern = true;
  el.connectedCallback();
  socket.receive('state', 'period_start');
  const log = record(el, ['my-decision-changed']);
  clock.advance(PATTERN_INTERVAL_MS * 3);
  assert.deepEqual(log.map(([, d]) => d.value), [1, 0, 1]);
});

test('bot: gradient with a payoff function climbs and reports the direction', () => {
  const {el} = bot();
  el.payoffFunction = (m) => m;
  el.velocity = 0.2;
  el.myDecision = 0.5;
  el.otherDecision = 0.5;
  el.step();
  assert.equal(el.myDecision, 0.6);
  assert.equal(el.direction, 'up');
});

test('bot: togglePattern', () => {
  const {el} = bot();
  el.togglePattern();
  assert.equal(el.pattern, true);
  el.togglePattern();
  assert.equal(el.pattern, false);
});
