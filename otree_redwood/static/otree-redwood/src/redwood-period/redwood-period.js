/**
 * <redwood-period>: the period's lifecycle, driven by the server's `state`.
 *
 * Properties: running (true between period_start and period_end; fires
 *   running-changed), postRoundDelay (seconds between period_end and
 *   leaving the page; default `oTree.postRoundDelay`, else 1),
 *   periodLength (seconds; default `oTree.periodLength`, the group's
 *   period_length()), startTime / endTime (server clock, ms since the
 *   epoch; null until known), secondsRemaining (whole seconds left, rounded
 *   up; null when the period has no end; fires seconds-remaining-changed
 *   once a second).  Method remainingMs() gives the milliseconds left.
 *   The times are on the server's clock (offset from the ping replies) and
 *   come from the stored period_start, which the server replays on every
 *   (re)connect: a reload or a reconnect shows the same time left.
 * Events: period-start, period-end (detail = the state message).
 *   period-end is cancelable: calling preventDefault() keeps the page.
 *   `event` (bubbles, composed; detail = the message) for every state
 *   message, as from 0.9.x's inner <redwood-channel>.
 *
 * At period_end the page's oTree form (`<form id="form">`, which carries the
 * CSRF token) is submitted after postRoundDelay seconds, which moves the
 * participant to the next page.  A page opened after its period had already
 * ended (the server replays period_end first) is submitted at once.
 */
import {PropertiesMixin} from '../lib/element.js';
import {PeriodClock} from '../lib/period-clock.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';

/** Server time now (ms since the epoch), from the page socket's clock offset. */
export function serverNow() {
  return sharedSocket().clock.serverNow(Date.now());
}

/** The period length in seconds: `override` if usable, else `oTree.periodLength`. */
export function periodLengthSeconds(override) {
  for (const v of [override, oTreeGlobals().periodLength]) {
    if (v !== null && v !== undefined && v !== '' && Number.isFinite(Number(v)) && Number(v) > 0) return Number(v);
  }
  return null;
}

/**
 * Follow the period's times: `onChange(clock)` after every state message and
 * every `tickMs` while the period runs.  Returns a function that stops it.
 * Used by <redwood-period> and <redwood-countdown>.
 */
export function watchPeriod(onChange, {tickMs = 200, periodLength = () => null} = {}) {
  const socket = sharedSocket();
  const clock = new PeriodClock();
  let timer = null;
  const stopTicking = () => { if (timer !== null) clearInterval(timer); timer = null; };
  const update = () => {
    if (clock.ended) stopTicking();
    onChange(clock);
  };
  const onState = (msg) => {
    clock.onState(msg, periodLengthSeconds(periodLength()));
    if (!clock.ended && clock.endTs !== null && timer === null) timer = setInterval(update, tickMs);
    update();
  };
  const off = socket.on('message', (msg) => { if (msg.channel === 'state') onState(msg); });
  const latest = socket.latest.get('state');
  if (latest) onState(latest);
  return () => { off(); stopTicking(); };
}

let submitScheduled = false;

/** Submit the page after `delayMs`, once per page whatever the element does. */
function scheduleSubmit(delayMs) {
  if (submitScheduled) return;
  submitScheduled = true;
  setTimeout(submitPage, delayMs);
}

/** POST the oTree page form (once per page). */
export function submitPage() {
  if (submitPage.done) return;
  submitPage.done = true;
  let form = document.getElementById('form');
  if (!form || form.tagName !== 'FORM') {
    form = document.createElement('form');
    form.method = 'post';
    form.action = window.location.href;
    form.style.display = 'none';
    document.body.appendChild(form);
  }
  const token = oTreeGlobals().csrfToken;
  if (token && !form.querySelector('input[name="csrfmiddlewaretoken"]')) {
    const input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'csrfmiddlewaretoken';
    input.value = token;
    form.appendChild(input);
  }
  // The prototype's submit: a field named "submit" would shadow form.submit.
  HTMLFormElement.prototype.submit.call(form);
}

export class RedwoodPeriod extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      running: {type: 'boolean', value: false, attribute: false},
      postRoundDelay: {type: 'number'},
      periodLength: {type: 'number'},
      startTime: {type: 'number', value: null, attribute: false},
      endTime: {type: 'number', value: null, attribute: false},
      secondsRemaining: {type: 'number', value: null, attribute: false},
    };
  }

  /** Milliseconds left in the period (server clock); null when no end is known. */
  remainingMs() {
    return this._clock ? this._clock.remainingMs(serverNow()) : null;
  }

  _onClock(clock) {
    this._clock = clock;
    this.startTime = clock.startTs;
    this.endTime = clock.endTs;
    const ms = clock.remainingMs(serverNow());
    this.secondsRemaining = ms === null ? null : Math.ceil(ms / 1000 - 1e-9);
  }

  connectedCallback() {
    const socket = sharedSocket();
    this._off = socket.on('message', (msg) => {
      if (msg.channel !== 'state') return;
      this._onState(msg);
      // as from 0.9.x's inner <redwood-channel channel="state">
      this._fire('event', msg, {bubbles: true, composed: true});
    });
    // Polymer's ready: `running` (false) reaches two-way bindings first
    super.connectedCallback();
    // The state may have arrived before this element was attached.
    const latest = socket.latest.get('state');
    if (latest) this._onState(latest);
    this._unwatch = watchPeriod((clock) => this._onClock(clock), {periodLength: () => this.periodLength});
  }

  disconnectedCallback() {
    if (this._off) this._off();
    if (this._unwatch) this._unwatch();
    this._off = this._unwatch = null;
  }

  _delaySeconds() {
    for (const v of [this.postRoundDelay, oTreeGlobals().postRoundDelay]) {
      if (v !== null && v !== undefined && v !== '' && Number.isFinite(Number(v)) && Number(v) >= 0) {
        return Number(v);
      }
    }
    return 1;
  }

  _onState(msg) {
    if (msg === this._lastStateMsg) return;
    this._lastStateMsg = msg;
    if (msg.payload === 'period_start') {
      this._sawStart = true;
      if (!this.running && !this._ended) {
        this.running = true;
        this._fire('period-start', msg);
      }
    } else if (msg.payload === 'period_end') {
      if (this._ended) return;
      this._ended = true;
      this.running = false;
      const ev = this._fire('period-end', msg, {cancelable: true});
      if (ev.defaultPrevented || submitScheduled) return;
      if (document.querySelector('.otree-form-errors')) {
        // oTree sent the page back with form errors: submitting again would
        // loop.  Leave it to the participant.
        console.warn('otree-redwood: period ended, but the form has errors; not submitting');
        return;
      }
      scheduleSubmit(this._sawStart ? this._delaySeconds() * 1000 : 0);
    }
  }
}

if (!customElements.get('redwood-period')) customElements.define('redwood-period', RedwoodPeriod);
