/**
 * <redwood-period>: the period's lifecycle, driven by the server's `state`.
 *
 * Properties: running (true between period_start and period_end; fires
 *   running-changed), postRoundDelay (seconds between period_end and
 *   leaving the page; default `oTree.postRoundDelay`, else 1).
 * Events: period-start, period-end (detail = the state message).
 *   period-end is cancelable: calling preventDefault() keeps the page.
 *
 * At period_end the page's oTree form (`<form id="form">`, which carries the
 * CSRF token) is submitted after postRoundDelay seconds, which moves the
 * participant to the next page.  A page opened after its period had already
 * ended (the server replays period_end first) is submitted at once.
 */
import {PropertiesMixin} from '../lib/element.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';

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
    };
  }

  connectedCallback() {
    const socket = sharedSocket();
    this._off = socket.on('message', (msg) => {
      if (msg.channel === 'state') this._onState(msg);
    });
    // The state may have arrived before this element was attached.
    const latest = socket.latest.get('state');
    if (latest) this._onState(latest);
  }

  disconnectedCallback() {
    if (this._off) this._off();
    this._off = null;
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
