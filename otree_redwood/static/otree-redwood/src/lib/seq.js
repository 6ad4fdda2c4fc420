/**
 * Bookkeeping of server sequence numbers.
 *
 * Server frames carry a per-group `seq`.  Frames may come twice (around a
 * reconnect) and, with several server processes, slightly out of order.
 * - an exact duplicate (a seq seen recently) is dropped;
 * - on "latest wins" channels (`state`, `group_decisions`: each frame
 *   replaces the previous one entirely) a frame older than the last one
 *   applied is dropped, so a late frame never rolls the state back;
 * - the highest seq seen is what the client asks to resume from.
 * Frames without a numeric seq (ping, error) always pass.  No DOM.
 */
export const LATEST_WINS_CHANNELS = Object.freeze(['state', 'group_decisions']);

export class SeqTracker {
  constructor({capacity = 2000, latestWins = LATEST_WINS_CHANNELS} = {}) {
    this.capacity = capacity;
    this.latestWins = new Set(latestWins);
    this.highest = null;
    this._seen = new Set();
    this._order = [];
    this._applied = new Map();   // channel -> last applied seq
  }

  /** Last applied seq on a latest-wins channel, or null. */
  lastApplied(channel) {
    return this._applied.has(channel) ? this._applied.get(channel) : null;
  }

  hasSeen(seq) { return this._seen.has(seq); }

  /**
   * Decide about one inbound message and record it.
   * @returns {'ok'|'duplicate'|'stale'}
   */
  accept(msg) {
    const seq = msg && msg.seq;
    if (typeof seq !== 'number' || !Number.isFinite(seq)) return 'ok';
    if (this._seen.has(seq)) return 'duplicate';
    this._seen.add(seq);
    this._order.push(seq);
    while (this._order.length > this.capacity) this._seen.delete(this._order.shift());
    if (this.highest === null || seq > this.highest) this.highest = seq;
    const channel = msg.channel;
    if (this.latestWins.has(channel)) {
      const last = this.lastApplied(channel);
      if (last !== null && seq < last) return 'stale';
      this._applied.set(channel, seq);
    }
    return 'ok';
  }
}
