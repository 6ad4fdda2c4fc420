/**
 * Rate limiter that never loses the latest value.
 *
 * `push(value)` sends at once when the last send is at least
 * 1000 / maxPerSecond ms ago; otherwise the value is kept as *pending*
 * (replacing any older pending value) and sent as soon as that interval has
 * passed.  So a burst of slider moves sends at most `maxPerSecond` values in
 * any one-second window, and the value the user stopped at always reaches
 * the server.
 *
 * Clock and timers are injectable so the behaviour can be tested without
 * waiting.  No DOM.
 */
export class RateLimiter {
  /**
   * @param {(value: any) => void} send
   * @param {{maxPerSecond?: number|null, now?: () => number,
   *          setTimeout?: Function, clearTimeout?: Function}} [options]
   */
  constructor(send, options = {}) {
    this._send = send;
    this._now = options.now || (() => Date.now());
    this._setTimeout = options.setTimeout || ((fn, ms) => setTimeout(fn, ms));
    this._clearTimeout = options.clearTimeout || ((id) => clearTimeout(id));
    this._lastSentAt = null;
    this._pending = false;
    this._pendingValue = undefined;
    this._timer = null;
    this.maxPerSecond = options.maxPerSecond;
  }

  get maxPerSecond() { return this._max; }

  /** null, undefined, 0, negative or non-finite mean "no limit". */
  set maxPerSecond(value) {
    const n = Number(value);
    this._max = (value === null || value === undefined || value === '' ||
                 !Number.isFinite(n) || n <= 0) ? null : n;
    if (this._pending) this._reschedule();
  }

  /** True while a value waits for the window to open. */
  get pending() { return this._pending; }

  push(value) {
    this._pendingValue = value;
    this._pending = true;
    // A timer already waits for the window: it will send this newer value.
    if (this._timer === null) this._reschedule();
  }

  /** Drop a pending value and stop the timer. */
  cancel() {
    this._pending = false;
    this._pendingValue = undefined;
    if (this._timer !== null) { this._clearTimeout(this._timer); this._timer = null; }
  }

  /** Milliseconds until another value may be sent (0 = now). */
  waitMs() {
    if (this._max === null || this._lastSentAt === null) return 0;
    // Sends at least 1000/N ms apart: at most N in any one-second window,
    // and evenly spread (a burst of N followed by a long pause would make
    // the other players see the slider jump).
    return Math.max(0, this._lastSentAt + 1000 / this._max - this._now());
  }

  _reschedule() {
    if (this._timer !== null) { this._clearTimeout(this._timer); this._timer = null; }
    if (!this._pending) return;
    const wait = this.waitMs();
    if (wait <= 0) {
      this._flush();
    } else {
      this._timer = this._setTimeout(() => { this._timer = null; this._reschedule(); }, wait);
    }
  }

  _flush() {
    const value = this._pendingValue;
    this._pending = false;
    this._pendingValue = undefined;
    this._lastSentAt = this._now();
    this._send(value);
  }
}
