/**
 * The behaviour of <redwood-decision>, on an injectable base class and
 * socket, so node can test it with an EventTarget and a fake socket.
 *
 * It follows 0.9.x's Polymer element step by step, because 0.9.x pages
 * depend on the order of its events:
 * - at the first connection (Polymer's ready): group-decisions-changed ({})
 *   and other-decision-changed (null) for the defaults, then
 *   `myDecision = initialDecision` (my-decision-changed);
 * - setting myDecision to a new value (by identity) sends it;
 * - a `group_decisions` message sets groupDecisions and otherDecision
 *   (group-decisions-changed, then other-decision-changed), then
 *   myCurrentDecision (my-current-decision-changed), then myDecision may take
 *   my entry of the map (below), and then group-decisions-changed fires a
 *   second time (0.9.x: without
 *   detail; here with {value} as well), once every property is fresh: 0.9.x pages that listen with
 *   on-group-decisions-changed and read their bound copy depend on that
 *   second event.  Finally an `event` (detail = the message) bubbles out of
 *   the element, as it did from 0.9.x's inner <redwood-channel>.
 * Kept from us, not 0.9.x: with max-per-second the latest decision is sent
 * once allowed (0.9.x dropped it); an undefined myDecision is not sent
 * (0.9.x sent a message without payload); a decision map that arrived
 * before the element was connected is applied at once.
 * Fixed 0.9.x bugs:
 * - The initial decision is not sent.  0.9.x sent it at every page load, so
 *   a page reloaded (or opened again) mid-period reset the participant's
 *   decision on the server to the initial one.  The server starts the period
 *   from each player's initial_decision() by itself.
 * - Instead, myDecision follows my entry of the server's maps (without
 *   sending it back) as long as this page has sent no decision since its
 *   socket (re)connected: a reloaded page shows the participant's real
 *   decision, and a map that is older than the server's live one (the last
 *   sub-period's, or one held back by a rate limit) is corrected by the next.
 *   Once the page has sent a decision the server will broadcast it, so a
 *   map that may predate it must not overwrite it.  (0.9.x took my entry
 *   only while myDecision was null, and sent it back.)
 * - A decision sent before the page has seen the period start is sent once
 *   more when it does: the server ignores decisions until the period has
 *   started (as 0.9.x did), and the page would keep showing a choice the
 *   server never took.
 *
 * env: {socket() -> {on(type, fn), send(channel, payload, opts), latest, state,
 *                   sentSinceOpen(channel)},
 *       participantCode() -> string,
 *       timers (optional): {now, setTimeout, clearTimeout} for the rate limit}
 */
import {PropertiesMixin} from './element.js';
import {RateLimiter} from './rate-limiter.js';
import {otherDecisionOf, othersMeanOf, jsonEqual} from './decisions.js';

export const makeRedwoodDecision = (Base, env) => class extends PropertiesMixin(Base) {
  static get properties() {
    return {
      initialDecision: {type: 'json', notify: false},
      maxPerSecond: {type: 'number', value: 0, notify: false, observer: '_maxPerSecondChanged'},
      myDecision: {type: 'json', observer: '_myDecisionChanged'},
      myCurrentDecision: {type: 'json', attribute: false},
      groupDecisions: {type: 'json', value: () => ({})},
      otherDecision: {type: 'json', value: null},
      // not in 0.9.x: the mean of the others' numeric decisions (mean matching)
      othersMean: {type: 'json', value: null, attribute: false},
    };
  }

  get _limiter() {
    if (!this.__limiter) {
      this.__limiter = new RateLimiter(
        (value) => env.socket().send('decisions', value, {replace: true}),
        {maxPerSecond: this.maxPerSecond, ...(env.timers || {})});
    }
    return this.__limiter;
  }

  connectedCallback() {
    const socket = env.socket();
    if (!this._off) {
      this._off = socket.on('message', (msg) => {
        if (msg.channel === 'group_decisions') this._onGroupDecisions(msg);
        else if (msg.channel === 'state') this._onState(msg);
      });
    }
    super.connectedCallback();
    const latest = socket.latest && socket.latest.get('group_decisions');
    if (latest && latest !== this._lastMsg) this._onGroupDecisions(latest);
  }

  disconnectedCallback() {
    if (super.disconnectedCallback) super.disconnectedCallback();
    if (this._off) this._off();
    this._off = null;
  }

  ready() {
    if (this.initialDecision !== undefined) this._setUnsent(this.initialDecision);
  }

  /** Set myDecision (with my-decision-changed) without sending it. */
  _setUnsent(value) {
    this._unsent = true;
    try {
      this.myDecision = value;
    } finally {
      this._unsent = false;
    }
  }

  /**
   * Whether this page has sent (or is about to send) a decision since the
   * socket (re)connected, so that the server's next map may not hold it yet.
   */
  _sentSinceConnect() {
    if (this.__limiter && this.__limiter.pending) return true;
    const socket = env.socket();
    if (typeof socket.sentSinceOpen === 'function') return socket.sentSinceOpen('decisions') > 0;
    return this._pushed === true;
  }

  _onState(msg) {
    if (msg.payload !== 'period_start' || !this._beforeStart) return;
    this._beforeStart = false;
    if (this.myDecision !== undefined) this._limiter.push(this.myDecision);
  }

  _maxPerSecondChanged(value) {
    if (this.__limiter) this.__limiter.maxPerSecond = value;
  }

  _myDecisionChanged(value) {
    // 0.9.x sent undefined as a message without payload, which the server refuses
    if (value === undefined || this._unsent) return;
    // no state yet: the server may not have started the period and would ignore it
    this._beforeStart = env.socket().state === undefined;
    this._pushed = true;
    this._limiter.push(value);
  }

  /** Store a value; true when it changed by identity (as Polymer decides). */
  _store(name, value) {
    if (Object.is(this.__data[name], value)) return false;
    this.__data[name] = value;
    return true;
  }

  _onGroupDecisions(msg) {
    this._lastMsg = msg;
    const map = msg.payload;
    // a map is what the server sends; anything else would break the page's code
    if (!map || typeof map !== 'object' || Array.isArray(map)) return;
    const me = env.participantCode();
    // groupDecisions and the values computed from it change together: a
    // listener of either event reads both fresh (Polymer computes first)
    const changed = [];
    if (this._store('groupDecisions', map)) changed.push('groupDecisions');
    if (this._store('otherDecision', otherDecisionOf(map, me))) changed.push('otherDecision');
    if (this._store('othersMean', othersMeanOf(map, me))) changed.push('othersMean');
    for (const name of changed) this._notify(name, this.__data[name]);
    const has = Object.prototype.hasOwnProperty.call(map, me);
    this.myCurrentDecision = has ? map[me] : undefined;
    if (has && !this._sentSinceConnect() && !jsonEqual(this.myDecision, map[me])) {
      this._setUnsent(map[me]);
    }
    // 0.9.x's second event had no detail; {value} too keeps pages that read
    // e.detail.value working for both (Polymer's bindings read the property)
    this._fire('group-decisions-changed', {value: this.groupDecisions});
    this._fire('event', msg, {bubbles: true, composed: true});
  }
};
