/**
 * Exponential backoff with jitter for reconnecting a WebSocket.
 *
 * The n-th delay (n = 0, 1, ...) is drawn from
 * [base * (1 - jitter), base] with base = min(maxMs, initialMs * factor^n),
 * so many clients that lost the server at once do not all come back in the
 * same instant.  `reset()` after a connection proved healthy.  No DOM.
 */
export class Backoff {
  constructor({initialMs = 500, maxMs = 10000, factor = 2, jitter = 0.5,
               random = Math.random} = {}) {
    if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1) ||
        !(jitter >= 0 && jitter <= 1)) {
      throw new RangeError('invalid backoff parameters');
    }
    Object.assign(this, {initialMs, maxMs, factor, jitter});
    this._random = random;
    this.attempt = 0;
  }

  /** Upper bound of the delay for the current attempt, without jitter. */
  baseMs() {
    return Math.min(this.maxMs, this.initialMs * Math.pow(this.factor, this.attempt));
  }

  /** Delay before the next attempt; advances the attempt counter. */
  next() {
    const base = this.baseMs();
    this.attempt = Math.min(this.attempt + 1, 64);
    return base * (1 - this.jitter * this._random());
  }

  reset() { this.attempt = 0; }
}
