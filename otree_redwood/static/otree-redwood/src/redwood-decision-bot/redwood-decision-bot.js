/**
 * <redwood-decision-bot>: plays the page's decision automatically, for
 * testing a game with fewer people than seats.
 *
 * It plays while the period runs, when `oTree.debug` is true or the
 * `active` attribute is set.  After exponentially distributed waits (on
 * average 1/lambda seconds) it moves myDecision toward its target by at most
 * `velocity`: the next value of `pattern` (cycled), or else the best
 * response to otherDecision under payoffFunction over [0, 1], or else a
 * random point.  The new decision is set as its own myDecision (fires
 * my-decision-changed, for {{...}} bindings) and on the page's
 * <redwood-decision>.
 *
 * Properties: myDecision, otherDecision (fire -changed), payoffFunction
 * (function(myDecision, otherDecision) -> number; property only), velocity,
 * lambda (moves per second, default 1), pattern (array, or JSON in the
 * attribute), active.
 */
import {PropertiesMixin} from '../lib/element.js';
import {nextMove, exponentialWait} from '../lib/bot.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';
import {decisionElements} from '../redwood-decision/redwood-decision.js';

export class RedwoodDecisionBot extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      myDecision: {type: 'json'},
      otherDecision: {type: 'json'},
      payoffFunction: {type: 'object', attribute: false, notify: false},
      velocity: {type: 'number'},
      lambda: {type: 'number', value: 1},
      pattern: {type: 'json'},
      active: {type: 'boolean', value: false, observer: '_update'},
    };
  }

  connectedCallback() {
    this._connected = true;
    const socket = sharedSocket();
    this._off = socket.on('message', (msg) => { if (msg.channel === 'state') this._update(); });
    this._update();
  }

  disconnectedCallback() {
    this._connected = false;
    if (this._off) this._off();
    this._off = null;
    this._update();
  }

  /** The <redwood-decision> this bot plays: same shadow root first, then any. */
  get decisionElement() {
    const root = this.getRootNode();
    let fallback = null;
    for (const el of decisionElements) {
      if (el.getRootNode() === root) return el;
      fallback = fallback || el;
    }
    return fallback;
  }

  get playing() {
    return Boolean(this._connected && (this.active || oTreeGlobals().debug) &&
                   sharedSocket().state === 'period_start');
  }

  _update() {
    if (this.playing) {
      if (!this._timer) this._schedule();
    } else if (this._timer) {
      clearTimeout(this._timer);
      this._timer = null;
    }
  }

  _schedule() {
    const ms = exponentialWait(this.lambda) * 1000;
    this._timer = setTimeout(() => {
      this._timer = null;
      if (!this.playing) return;
      this.step();
      this._schedule();
    }, ms);
  }

  /** Make one move now; returns the new decision. */
  step() {
    const target = this.decisionElement;
    const mine = target && target.myDecision !== undefined ? target.myDecision : this.myDecision;
    let other = this.otherDecision;
    if ((other === undefined || other === null) && target) other = target.otherDecision;
    const pattern = Array.isArray(this.pattern) ? this.pattern : null;
    const move = nextMove({
      myDecision: mine,
      otherDecision: other,
      payoffFunction: this.payoffFunction,
      velocity: this.velocity,
      pattern,
      patternIndex: this._patternIndex || 0,
    });
    this._patternIndex = move.patternIndex;
    this.myDecision = move.decision;
    if (target) target.myDecision = move.decision;
    return move.decision;
  }
}

if (!customElements.get('redwood-decision-bot')) {
  customElements.define('redwood-decision-bot', RedwoodDecisionBot);
}
