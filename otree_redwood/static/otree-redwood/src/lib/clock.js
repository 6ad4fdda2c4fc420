/**
 * Round-trip time and server clock offset from ping/pong samples.
 *
 * A sample is (sentAt, receivedAt, serverTs), the first two on the local
 * clock.  Assuming the reply took half the round trip, the server clock read
 * serverTs at local time (sentAt + receivedAt) / 2, so
 *   offset = serverTs - (sentAt + receivedAt) / 2,   serverNow = localNow + offset.
 * The error of that guess is at most rtt / 2, so the estimate is taken from
 * the samples with the lowest round trip in a recent window (averaged over a
 * few of them to smooth jitter).  The reported round trip is an exponential
 * moving average.  No DOM.
 */
export class ClockEstimator {
  constructor({window = 20, best = 3, alpha = 0.25} = {}) {
    this.windowSize = window;
    this.bestCount = best;
    this.alpha = alpha;
    this.samples = [];
    this.rttMs = null;        // moving average
    this.lastRttMs = null;
    this.offsetMs = null;     // serverTime - localTime
  }

  /** Add a sample; returns false (and ignores it) when it is not plausible. */
  addSample(sentAt, receivedAt, serverTs) {
    const rtt = receivedAt - sentAt;
    if (![sentAt, receivedAt].every(Number.isFinite) || rtt < 0) return false;
    this.lastRttMs = rtt;
    this.rttMs = this.rttMs === null ? rtt : this.rttMs + this.alpha * (rtt - this.rttMs);
    if (Number.isFinite(serverTs)) {
      this.samples.push({rtt, offset: serverTs - (sentAt + receivedAt) / 2});
      if (this.samples.length > this.windowSize) this.samples.shift();
      const best = [...this.samples].sort((a, b) => a.rtt - b.rtt).slice(0, this.bestCount);
      this.offsetMs = best.reduce((s, x) => s + x.offset, 0) / best.length;
    }
    return true;
  }

  /** Estimated server time (ms since epoch) at local time `localNow`. */
  serverNow(localNow) {
    return localNow + (this.offsetMs || 0);
  }
}
