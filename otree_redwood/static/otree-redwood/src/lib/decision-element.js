/**
 * The behaviour of <redwood-decision>, on an injectable base class and
 * socket, so node can test it with an EventTarget and a fake socket.
 *
 * It follows 0.9.x's Polymer element step by step, because 0.9.x pages
 * depend on the order of its events:
 * - at the first connection (Polymer's ready): group-decisions-changed ({})
 *   and other-decision-changed (null) for the defaults, then
 *   `myDecision = initialDecision`, which sends it like any other decision;
 * - setting myDecision to a new value (by identity) sends it;
 * - a `group_decisions` message sets groupDecisions and otherDecision
 *   (group-decisions-changed, then other-decision-changed), then
 *   myCurrentDecision (my-current-decision-changed), then, only when
 *   myDecision is null, myDecision takes my entry of the map (and sends it),
 *   and then group-decisions-changed fires a second time (0.9.x: without
 *   detail; here with {value} as well), once every property is fresh: 0.9.x pages that listen with
 *   on-group-decisions-changed and read their bound copy depend on that
 *   second event.  Finally an `event` (detail = the message) bubbles out of
 *   the element, as it did from 0.9.x's inner <redwood-channel>.
 * Kept from us, not 0.9.x: with max-per-second the latest decision is sent
 * once allowed (0.9.x dropped it); an undefined myDecision is not sent
 * (0.9.x sent a message without payload); a decision map that arrived
 * before the element was connected is applied at once.
 *
 * env: {socket() -> {on(type, fn), send(channel, payload, opts), latest},
 *       participantCode() -> string}
 */
import {PropertiesMixin} from './element.js';
import {RateLimiter} from './rate-limiter.js';
import {otherDecisionOf, othersMeanOf} from './decisions.js';

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
        {maxPerSecond: this.maxPerSecond});
    }
    return this.__limiter;
  }

  connectedCallback() {
    const socket = env.socket();
    if (!this._off) {
      this._off = socket.on('message', (msg) => {
        if (msg.channel === 'group_decisions') this._onGroupDecisions(msg);
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
    if (this.initialDecision !== undefined) this.myDecision = this.initialDecision;
  }

  _maxPerSecondChanged(value) {
    if (this.__limiter) this.__limiter.maxPerSecond = value;
  }

  _myDecisionChanged(value) {
    // 0.9.x sent undefined as a message without payload, which the server refuses
    if (value === undefined) return;
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
    this.myCurrentDecision = map[me];
    if (this.myDecision === null) this.myDecision = map[me];
    // 0.9.x's second event had no detail; {value} too keeps pages that read
    // e.detail.value working for both (Polymer's bindings read the property)
    this._fire('group-decisions-changed', {value: this.groupDecisions});
    this._fire('event', msg, {bubbles: true, composed: true});
  }
};
