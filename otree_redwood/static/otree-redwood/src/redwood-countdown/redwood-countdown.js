/**
 * <redwood-countdown>: the time left in the period, as text and a progress bar.
 *
 *   <redwood-countdown></redwood-countdown>
 *   <redwood-countdown format="m:ss" no-bar label="Time left:"></redwood-countdown>
 *
 * Attributes / properties:
 *   format        'mm:ss' (default), 'm:ss', 'hh:mm:ss', 's' or 's.s'
 *   label         text before the time (default "Time left:"; "" for none)
 *   no-bar        hide the progress bar (noBar)
 *   period-length seconds; default `oTree.periodLength` (the group's
 *                 period_length(), rendered by otree_redwood/Page.html)
 *   secondsRemaining (read only) whole seconds left, rounded up; fires
 *                 seconds-remaining-changed
 *
 * Before the period starts it shows the whole period ("waiting"); once the
 * server ends the period it shows zero and a full bar, whatever the local
 * clock says.  Times are on the server's clock (see <redwood-period>).  The
 * element renders into its own light DOM with Bootstrap's progress classes
 * (oTree pages load Bootstrap 4), so page CSS can restyle it:
 *   .redwood-countdown-label, .redwood-countdown-time, .progress, .progress-bar
 * and the element's `data-state` attribute is waiting | running | ended.
 */
import {PropertiesMixin} from '../lib/element.js';
import {formatSeconds} from '../lib/period-clock.js';
import {periodLengthSeconds, serverNow, watchPeriod} from '../redwood-period/redwood-period.js';

export class RedwoodCountdown extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      format: {type: 'string', value: 'mm:ss', observer: '_render'},
      label: {type: 'string', value: 'Time left:', observer: '_render'},
      noBar: {type: 'boolean', value: false, observer: '_render'},
      periodLength: {type: 'number', observer: '_render'},
      secondsRemaining: {type: 'number', value: null, attribute: false},
    };
  }

  connectedCallback() {
    if (!this._built) this._build();
    this._unwatch = watchPeriod((clock) => { this._clock = clock; this._render(); },
                                {tickMs: 100, periodLength: () => this.periodLength});
    this._render();
  }

  disconnectedCallback() {
    if (this._unwatch) this._unwatch();
    this._unwatch = null;
  }

  _build() {
    this._built = true;
    this.classList.add('redwood-countdown');
    this._labelEl = document.createElement('span');
    this._labelEl.className = 'redwood-countdown-label';
    this._timeEl = document.createElement('span');
    this._timeEl.className = 'redwood-countdown-time';
    this._timeEl.setAttribute('role', 'timer');
    this._timeEl.style.fontVariantNumeric = 'tabular-nums';
    this._barBox = document.createElement('div');
    this._barBox.className = 'progress';
    this._barBox.style.height = '0.6em';
    this._bar = document.createElement('div');
    this._bar.className = 'progress-bar';
    this._bar.setAttribute('role', 'progressbar');
    this._bar.setAttribute('aria-valuemin', '0');
    this._bar.setAttribute('aria-valuemax', '100');
    this._bar.style.transition = 'none';
    this._barBox.appendChild(this._bar);
    this.append(this._labelEl, ' ', this._timeEl, this._barBox);
  }

  _render() {
    if (!this._built) return;
    const clock = this._clock;
    const length = periodLengthSeconds(this.periodLength);
    const now = serverNow();
    let state = 'waiting';
    let seconds = length;
    let fraction = 0;
    if (clock && clock.ended) {
      state = 'ended';
      seconds = 0;
      fraction = 1;
    } else if (clock && clock.startTs !== null) {
      state = 'running';
      const ms = clock.remainingMs(now);
      seconds = ms === null ? null : ms / 1000;
      fraction = clock.fraction(now);
    }
    this.dataset.state = state;
    this.secondsRemaining = seconds === null ? null : Math.ceil(seconds - 1e-9);
    this._labelEl.textContent = this.label || '';
    this._labelEl.hidden = !this.label;
    this._timeEl.textContent = seconds === null ? '' : formatSeconds(seconds, this.format || 'mm:ss');
    const hasBar = !this.noBar && fraction !== null && (seconds !== null || state === 'ended');
    this._barBox.hidden = !hasBar;
    const percent = Math.round((fraction || 0) * 1000) / 10;
    this._bar.style.width = percent + '%';
    this._bar.setAttribute('aria-valuenow', String(percent));
  }
}

if (!customElements.get('redwood-countdown')) customElements.define('redwood-countdown', RedwoodCountdown);
