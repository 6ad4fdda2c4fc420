/**
 * <redwood-decision initial-decision max-per-second>: this participant's
 * decision and the group's.
 *
 * Properties (each fires `<kebab-name>-changed`, detail {value}):
 *   myDecision         set it (or bind it with {{...}}) to send a decision on
 *                      channel `decisions`; with max-per-second, at most that
 *                      many are sent per second and the latest value is
 *                      always sent once allowed (intermediate ones may be
 *                      skipped)
 *   myCurrentDecision  my decision as last confirmed by the server
 *   groupDecisions     the server's map {participantCode: decision}
 *   otherDecision      the other player's decision (2 players), or the mean
 *                      of the others' numeric decisions (larger groups)
 *   initialDecision    starting value of myDecision (not sent)
 *   maxPerSecond       rate limit for sending (unset/0 = no limit)
 *
 * myDecision starts as initialDecision.  Until the first group_decisions map
 * arrives, a value equal to initialDecision is not sent (it is the initial
 * binding, not a choice), and when that map arrives with a decision for me
 * while I have not chosen anything yet, myDecision takes the server's value
 * (a reloaded page shows the decision the server has).
 */
import {PropertiesMixin} from '../lib/element.js';
import {RateLimiter} from '../lib/rate-limiter.js';
import {otherDecisionOf, jsonEqual} from '../lib/decisions.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';

/** Connected <redwood-decision> elements, for <redwood-decision-bot>. */
export const decisionElements = new Set();

export class RedwoodDecision extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      initialDecision: {type: 'json', observer: '_initialDecisionChanged'},
      maxPerSecond: {type: 'number', observer: '_maxPerSecondChanged'},
      myDecision: {type: 'json', observer: '_myDecisionChanged'},
      myCurrentDecision: {type: 'json', attribute: false},
      groupDecisions: {type: 'object', attribute: false},
      otherDecision: {type: 'json', attribute: false},
    };
  }

  // Flags (undefined = false, so they also hold while the base constructor
  // replays properties set before upgrade):
  //   _quiet   the element is setting myDecision itself: do not send
  //   _chosen  the page has chosen a decision of its own
  //   _synced  a group_decisions map has been applied

  get _limiter() {
    if (!this.__limiter) {
      this.__limiter = new RateLimiter(
        (value) => sharedSocket().send('decisions', value, {replace: true}),
        {maxPerSecond: this.maxPerSecond});
    }
    return this.__limiter;
  }

  connectedCallback() {
    decisionElements.add(this);
    const socket = sharedSocket();
    this._off = socket.on('message', (msg) => {
      if (msg.channel === 'group_decisions') this._applyGroupDecisions(msg.payload);
    });
    const latest = socket.latest.get('group_decisions');
    if (latest) this._applyGroupDecisions(latest.payload);
    // a Polymer host listens only once its template is stamped: tell it again
    if (this.myDecision !== undefined) this._notify('myDecision', this.myDecision);
  }

  disconnectedCallback() {
    decisionElements.delete(this);
    if (this._off) this._off();
    this._off = null;
  }

  _maxPerSecondChanged(value) {
    if (this.__limiter) this.__limiter.maxPerSecond = value;
  }

  _initialDecisionChanged(value) {
    if (this.myDecision === undefined && value !== undefined) this._setQuietly(value);
  }

  _setQuietly(value) {
    this._quiet = true;
    try { this.myDecision = value; } finally { this._quiet = false; }
  }

  _myDecisionChanged(value) {
    if (this._quiet || value === undefined) return;
    if (!this._synced && !this._chosen && jsonEqual(value, this.initialDecision)) return;
    this._chosen = true;
    this._limiter.push(value);
  }

  _applyGroupDecisions(map) {
    if (!map || typeof map !== 'object' || Array.isArray(map)) return;
    const me = oTreeGlobals().participantCode;
    // store every value before any -changed event: a listener of one (0.9.x
    // pages read otherDecision in group-decisions-changed) sees them all fresh
    const mine = Object.prototype.hasOwnProperty.call(map, me) ? map[me] : undefined;
    const other = otherDecisionOf(map, me);
    const changed = [];
    if (!Object.is(map, this.groupDecisions)) changed.push(['groupDecisions', map]);
    if (!jsonEqual(mine, this.myCurrentDecision)) changed.push(['myCurrentDecision', mine]);
    if (!jsonEqual(other, this.otherDecision)) changed.push(['otherDecision', other]);
    for (const [name, value] of changed) this.__data[name] = value;
    for (const [name, value] of changed) this._notify(name, value);
    if (!this._synced) {
      this._synced = true;
      if (!this._chosen && mine !== undefined && mine !== null) this._setQuietly(mine);
    }
  }
}

if (!customElements.get('redwood-decision')) customElements.define('redwood-decision', RedwoodDecision);
