/**
 * Time left in the period, on the server's clock.  No DOM, no timers.
 *
 * The server dates `state: period_start` with the period's start (the frame's
 * `ts`, server clock, ms) and replays the latest state on every (re)connect
 * with that same `ts`, so a page that reloads or reconnects finds the same
 * start.  The end is `ts + periodLength * 1000` (the group's period_length(),
 * rendered into window.oTree), or the frame's `period_end_ts` when the server
 * sends one.  Local time is turned into server time with the offset learnt
 * from ping replies (see clock.js): a participant's wrong PC clock does not
 * change what the countdown shows.
 */
export class PeriodClock {
  constructor() {
    this.startTs = null;   // server ms
    this.endTs = null;     // server ms, null: no end known
    this.ended = false;
  }

  /**
   * Apply a `state` message; `periodLengthS` is the period's length in
   * seconds (null/undefined: unknown).  Returns true when something changed.
   */
  onState(msg, periodLengthS) {
    if (!msg || typeof msg !== 'object') return false;
    const ts = Number(msg.ts);
    if (msg.payload === 'period_start') {
      if (this.ended) return false;
      const before = [this.startTs, this.endTs];
      this.startTs = Number.isFinite(ts) ? ts : this.startTs;
      const explicit = Number(msg.period_end_ts);
      const length = Number(periodLengthS);
      if (Number.isFinite(explicit) && msg.period_end_ts !== null) {
        this.endTs = explicit;
      } else if (this.startTs !== null && periodLengthS !== null && periodLengthS !== undefined &&
                 periodLengthS !== '' && Number.isFinite(length) && length > 0) {
        this.endTs = this.startTs + length * 1000;
      }
      return before[0] !== this.startTs || before[1] !== this.endTs;
    }
    if (msg.payload === 'period_end') {
      const changed = !this.ended;
      this.ended = true;
      if (Number.isFinite(ts)) this.endTs = ts;
      return changed;
    }
    return false;
  }

  /** Milliseconds left at server time `serverNow`; null when no end is known. */
  remainingMs(serverNow) {
    if (this.ended) return 0;
    if (this.endTs === null || this.startTs === null) return null;
    return Math.max(0, this.endTs - serverNow);
  }

  /** Share of the period gone at `serverNow`, 0..1; null when unknown. */
  fraction(serverNow) {
    if (this.ended) return 1;
    if (this.endTs === null || this.startTs === null || this.endTs <= this.startTs) return null;
    return Math.min(1, Math.max(0, (serverNow - this.startTs) / (this.endTs - this.startTs)));
  }
}

/**
 * Seconds as text.  Formats: 'mm:ss' (default, "01:05"; minutes grow past
 * 59), 'm:ss' ("1:05"), 'hh:mm:ss', 's' (whole seconds), 's.s' (tenths).  Whole-second formats
 * round up, so the display reads 0:00 only when the time is really over.
 */
export function formatSeconds(seconds, format = 'mm:ss') {
  if (seconds === null || seconds === undefined || !Number.isFinite(Number(seconds))) return '';
  const s = Math.max(0, Number(seconds));
  if (format === 's.s') return (Math.ceil(s * 10) / 10).toFixed(1);
  const whole = Math.ceil(s - 1e-9);
  if (format === 's') return String(whole);
  const pad = (n) => String(n).padStart(2, '0');
  if (format === 'hh:mm:ss') {
    return `${pad(Math.floor(whole / 3600))}:${pad(Math.floor((whole % 3600) / 60))}:${pad(whole % 60)}`;
  }
  if (format === 'm:ss') return `${Math.floor(whole / 60)}:${pad(whole % 60)}`;
  return `${pad(Math.floor(whole / 60))}:${pad(whole % 60)}`;
}
