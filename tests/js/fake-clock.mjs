// Deterministic clock and timers for the unit tests.
export class FakeClock {
  constructor(start = 1_000_000) {
    this.t = start;
    this.timers = new Map();
    this.nextId = 1;
    this.now = () => this.t;
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.timers.set(id, {at: this.t + Math.max(0, ms || 0), fn});
      return id;
    };
    this.clearTimeout = (id) => { this.timers.delete(id); };
  }

  /** Advance time, running due timers in order (including ones they add). */
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let nextId = null;
      let next = null;
      for (const [id, tm] of this.timers) {
        if (tm.at <= end && (next === null || tm.at < next.at)) { next = tm; nextId = id; }
      }
      if (next === null) break;
      this.timers.delete(nextId);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }

  get pendingTimers() { return this.timers.size; }
}
