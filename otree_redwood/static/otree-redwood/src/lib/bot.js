/**
 * <redwood-decision-bot>: its strategy (pure functions) and its behaviour
 * (on an injectable base class, socket, timers and randomness, so node can
 * test it).
 *
 * The strategy is 0.9.x's, for decisions in [0, 1]:
 * - gradient (default): every 100-1000 ms (uniform), with probability
 *   `lambda`, or while myDecision or otherDecision is unknown, a random
 *   decision; otherwise a random step up and one down, each of at most
 *   `velocity`, and the bot takes the one that raises
 *   payoffFunction(myDecision, otherDecision), if any (`direction` says
 *   'up', 'down' or 'none').  Without a payoffFunction (0.9.x threw), a
 *   random decision.
 * - pattern = true: every 500 ms, alternate between `lambda` and
 *   1 - `lambda`.
 * - pattern = an array (not in 0.9.x): every 500 ms, the next value of it.
 * It plays while the period runs and `debug` (oTree.debug, as in 0.9.x) or
 * `active` (new) is true; start() and stop() play and stop by hand.
 */
import {PropertiesMixin} from './element.js';
import {parseJsonish} from './decisions.js';

export const PATTERN_INTERVAL_MS = 500;

/** Milliseconds before the next gradient move: uniform in [100, 1000). */
export function nextInterval(random = Math.random) {
  return Math.floor(random() * (1000 - 100)) + 100;
}

function unknown(v) {
  return v === null || v === undefined || Number.isNaN(Number(v));
}

/** One gradient move: {decision, direction}; direction undefined for a random jump. */
export function gradientMove({myDecision, otherDecision, payoffFunction, velocity = 0.1, lambda = 0.1},
                             random = Math.random) {
  if (random() < lambda || unknown(myDecision) || unknown(otherDecision) ||
      typeof payoffFunction !== 'function') {
    return {decision: random(), direction: undefined};
  }
  const me = Number(myDecision);
  const other = Number(otherDecision);
  const current = payoffFunction(me, other);
  const up = Math.min(me + velocity * random(), 1);
  const down = Math.max(me - velocity * random(), 0);
  if (payoffFunction(up, other) > current) return {decision: up, direction: 'up'};
  if (payoffFunction(down, other) > current) return {decision: down, direction: 'down'};
  return {decision: me, direction: 'none'};
}

/** One move of pattern = true: lambda, then 1 - lambda, and so on. */
export function patternMove(myDecision, lambda = 0.1) {
  if (unknown(myDecision)) return lambda;
  return Math.abs(Number(myDecision) - lambda) < 0.1 ? 1 - lambda : lambda;
}

/** One move of an array pattern: the value after the current one (cycling). */
export function arrayPatternMove(pattern, index) {
  const next = (index + 1) % pattern.length;
  return {decision: pattern[next], index: next};
}

/** The `pattern` attribute: present and empty is true (Polymer's Boolean), else JSON. */
export function patternAttribute(text) {
  if (text === null) return false;
  if (text.trim() === '') return true;
  return parseJsonish(text);
}

/**
 * env: {socket() -> {on(type, fn), state}, globals() -> window.oTree,
 *       decision(el) -> the <redwood-decision> a bot outside any shadow
 *       root drives, or null; setTimeout, clearTimeout, random}
 */
export const makeRedwoodDecisionBot = (Base, env) => class extends PropertiesMixin(Base) {
  static get properties() {
    return {
      myDecision: {type: 'number'},
      otherDecision: {type: 'number', notify: false},
      payoffFunction: {type: 'object', attribute: false, notify: false},
      direction: {type: 'string', notify: false},
      running: {type: 'boolean', notify: false, observer: '_runningChanged'},
      velocity: {type: 'number', value: 0.1, notify: false},
      lambda: {type: 'number', value: 0.1, notify: false},
      // true (0.9.x) or an array of decisions (new); a JSON attribute is an array
      pattern: {type: patternAttribute, value: false, notify: false},
      debug: {type: 'boolean', notify: false, observer: '_check'},
      active: {type: 'boolean', value: false, notify: false, observer: '_check'},
    };
  }

  constructor() {
    super();
    if (this.debug === undefined) this.__data.debug = Boolean((env.globals() || {}).debug);
  }

  connectedCallback() {
    if (!this._off) {
      this._off = env.socket().on('message', (msg) => {
        if (msg.channel === 'state') this._check();
      });
    }
    this._connected = true;
    super.connectedCallback();
    this._check();
  }

  disconnectedCallback() {
    if (super.disconnectedCallback) super.disconnectedCallback();
    this._connected = false;
    if (this._off) this._off();
    this._off = null;
    this.stop();
  }

  /** Whether the period runs now (the server's latest state). */
  get periodRunning() {
    return env.socket().state === 'period_start';
  }

  /** 0.9.x: play while the period runs and debug is on; stop otherwise. */
  _check() {
    if (!this._connected) return;
    if (this.periodRunning && (this.debug || this.active)) this.start();
    else this.stop();
  }

  start() {
    this.running = true;
  }

  stop() {
    this.running = false;
  }

  togglePattern() {
    this.pattern = !this.pattern;
    if (this._render) this._render();
  }

  _runningChanged(running) {
    if (running) {
      if (this._timer === undefined || this._timer === null) this._schedule(this._interval());
    } else if (this._timer !== undefined && this._timer !== null) {
      env.clearTimeout(this._timer);
      this._timer = null;
    }
    if (this._render) this._render();
  }

  _interval() {
    return this.pattern ? PATTERN_INTERVAL_MS : nextInterval(env.random);
  }

  _schedule(ms) {
    this._timer = env.setTimeout(() => {
      this._timer = null;
      if (!this.running) return;
      this.step();
      if (this.running) this._schedule(this._interval());
    }, ms);
  }

  /** The <redwood-decision> a bot in the document drives (see env.decision). */
  get _target() {
    return env.decision ? env.decision(this) : null;
  }

  /** Make one move now; returns the new decision. */
  step() {
    const target = this._target;
    let mine = this.myDecision;
    let other = this.otherDecision;
    if (target) {
      if (unknown(mine)) mine = target.myDecision;
      if (unknown(other)) other = target.otherDecision;
    }
    let decision;
    if (Array.isArray(this.pattern) && this.pattern.length > 0) {
      const move = arrayPatternMove(this.pattern, this._patternIndex === undefined ? -1 : this._patternIndex);
      this._patternIndex = move.index;
      decision = move.decision;
    } else if (this.pattern) {
      decision = patternMove(mine, Number(this.lambda));
    } else {
      const move = gradientMove({
        myDecision: mine, otherDecision: other, payoffFunction: this.payoffFunction,
        velocity: Number(this.velocity), lambda: Number(this.lambda),
      }, env.random);
      decision = move.decision;
      if (move.direction !== undefined) this.direction = move.direction;
    }
    this.myDecision = decision;
    if (target) target.myDecision = decision;
    if (this._render) this._render();
    return decision;
  }
};
