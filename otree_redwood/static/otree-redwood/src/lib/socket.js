/**
 * The page's connection to the otree-redwood server.  No DOM: WebSocket,
 * clock, timers and randomness are injected, so node can test it with a
 * fake socket.
 *
 * - Reconnects with exponential backoff and jitter, except after close codes
 *   4000/4003/4004 (bad URL, forbidden, not found), which are final.
 * - Resumes with `?seq=<highest seq seen>` so the server replays what was
 *   missed; drops duplicate frames and stale `state`/`group_decisions`.
 * - Queues messages sent while not connected and sends each of them once
 *   the socket opens.  A message handed to an open socket is not sent
 *   again (0.9.x re-sent its whole queue after every reconnect), with one
 *   exception: the latest message of a latest-wins channel (sent with
 *   `{replace: true}`, like decisions) whose receipt the server had not yet
 *   confirmed when the connection was lost is sent once more on the new
 *   connection.  The server confirms it by answering a ping sent after it
 *   (frames of one socket arrive in order), so a decision written into a
 *   dead connection before that was noticed is not lost.
 * - Pings every `pingIntervalMs`; from the replies it keeps a round-trip
 *   average and the server clock offset.  A socket that has heard nothing
 *   for `deadAfterMs` is treated as dead and replaced (a lost network does
 *   not always close a WebSocket).
 */
import {Backoff} from './backoff.js';
import {ClockEstimator} from './clock.js';
import {SeqTracker, LATEST_WINS_CHANNELS} from './seq.js';

export const NO_RETRY_CODES = Object.freeze([4000, 4003, 4004]);
export const CHANNEL_RE = /^[A-Za-z0-9_.-]{1,100}$/;
const OPEN = 1;

/** URL of the redwood socket for a page served over `protocol` from `host`. */
export function socketUrl({protocol, host, appName, groupPk, participantCode, token, seq}) {
  const scheme = protocol === 'https:' ? 'wss:' : 'ws:';
  const enc = (v) => encodeURIComponent(String(v));
  let url = `${scheme}//${host}/redwood/app-name/${enc(appName)}/group/${enc(groupPk)}` +
            `/participant/${enc(participantCode)}/`;
  const query = [];
  if (token !== null && token !== undefined && token !== '') query.push('token=' + enc(token));
  if (typeof seq === 'number' && Number.isFinite(seq)) query.push('seq=' + seq);
  if (query.length) url += '?' + query.join('&');
  return url;
}

export class RedwoodSocket {
  /**
   * @param {object} o
   * @param {(lastSeq: number|null) => string} o.url
   * @param {Function} o.WebSocket  constructor
   */
  constructor(o) {
    this._url = o.url;
    this._WebSocket = o.WebSocket;
    this._now = o.now || (() => Date.now());
    this._setTimeout = o.setTimeout || ((fn, ms) => setTimeout(fn, ms));
    this._clearTimeout = o.clearTimeout || ((id) => clearTimeout(id));
    this.pingIntervalMs = o.pingIntervalMs || 5000;
    this.deadAfterMs = o.deadAfterMs || 3 * this.pingIntervalMs + 1000;
    this.stableAfterMs = o.stableAfterMs || 5000;
    this.queueLimit = o.queueLimit || 10000;
    this.backoff = o.backoff || new Backoff({random: o.random || Math.random});
    this.clock = new ClockEstimator();
    this.seq = new SeqTracker();
    this.queue = [];
    this.latest = new Map();   // channel -> latest applied message (state, group_decisions)
    this.status = 'idle';      // idle|connecting|open|waiting|failed|stopped
    this.closeCode = null;
    this.lastError = null;
    this.connectCount = 0;
    this._ws = null;
    this._listeners = new Map();
    this._reconnectTimer = null;
    this._pingTimer = null;
    this._openedAt = null;
    this._lastHeardAt = null;
    this._sendCount = 0;
    this._unconfirmed = new Map();  // channel -> {text, n}: latest-wins sends not yet confirmed
    this._pingsOut = new Map();     // ping timestamp -> _sendCount when it was sent
    this._sentOnOpen = new Map();   // channel -> messages written to the current connection
  }

  get connected() { return this.status === 'open'; }
  /** WebSocket-style state, for 0.9.x code that read `socket.readyState`: 1 open, 0 connecting, 3 closed. */
  get readyState() {
    if (this.connected) return 1;
    return this.status === 'connecting' || this.status === 'waiting' || this.status === 'idle' ? 0 : 3;
  }
  get lastSeq() { return this.seq.highest; }
  /**
   * How many messages on `channel` went to the server on the current
   * connection (including what was queued or re-sent when it opened), plus
   * those queued for the next one.  0 means the server's view of this page's
   * `channel` is what it was before this connection: a decision element uses
   * it to know whether the server's map can be trusted over its own value.
   */
  sentSinceOpen(channel) {
    const queued = this.queue.reduce((n, m) => n + (m.channel === channel ? 1 : 0), 0);
    return (this._sentOnOpen.get(channel) || 0) + queued;
  }
  get rttMs() { return this.clock.rttMs; }
  get clockOffsetMs() { return this.clock.offsetMs; }
  /** Latest `state` payload ("period_start" / "period_end"), or undefined. */
  get state() {
    const m = this.latest.get('state');
    return m ? m.payload : undefined;
  }

  /** Subscribe to 'message', 'status' or 'ping'; returns an unsubscribe function. */
  on(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(fn);
    return () => this._listeners.get(type).delete(fn);
  }

  _emit(type, arg) {
    const set = this._listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try { fn(arg); } catch (e) { if (typeof console !== 'undefined') console.error(e); }
    }
  }

  _setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this._emit('status', {status, connected: this.connected, closeCode: this.closeCode});
  }

  /** Open the socket (idempotent). */
  start() {
    if (this.status === 'connecting' || this.status === 'open' || this.status === 'waiting') return;
    if (this.status === 'failed') return;
    this._connect();
  }

  /** Close for good (e.g. the page is going away). */
  stop() {
    this._clearTimers();
    this._detach(1000);
    this._setStatus('stopped');
  }

  /** Like start(), after stop() (a page restored from the back/forward cache). */
  resume() {
    if (this.status === 'stopped') { this.status = 'idle'; this.start(); }
  }

  /**
   * Send `payload` on `channel`.  While not connected the message is queued;
   * with `{replace: true}` it replaces an older queued message on the same
   * channel (only the latest decision matters).
   * @returns {'sent'|'queued'|'dropped'}
   */
  send(channel, payload, {replace = false} = {}) {
    if (typeof channel !== 'string' || !CHANNEL_RE.test(channel)) {
      throw new TypeError('invalid channel name: ' + channel);
    }
    const text = JSON.stringify({channel, payload});
    if (this.status === 'failed') return 'dropped';
    if (this.connected && this._ws && this._ws.readyState === OPEN) {
      this._ws.send(text);
      this._sendCount += 1;
      this._countSent(channel);
      if (replace) this._unconfirmed.set(channel, {text, n: this._sendCount});
      return 'sent';
    }
    if (replace) {
      this.queue = this.queue.filter((m) => m.channel !== channel);
      this._unconfirmed.delete(channel);  // superseded by the queued one
    }
    this.queue.push({channel, text, replace});
    if (this.queue.length > this.queueLimit) this.queue.shift();
    return 'queued';
  }

  _connect() {
    this._clearTimers();
    this._setStatus('connecting');
    let ws;
    try {
      ws = new this._WebSocket(this._url(this.seq.highest));
    } catch (e) {
      this.lastError = {reason: 'cannot open socket: ' + (e && e.message)};
      this._scheduleReconnect();
      return;
    }
    this._ws = ws;
    ws.onopen = () => { if (this._ws === ws) this._onOpen(); };
    ws.onmessage = (ev) => { if (this._ws === ws) this._onMessage(ev); };
    ws.onclose = (ev) => { if (this._ws === ws) this._onClose(ev); };
    ws.onerror = () => {};
  }

  _onOpen() {
    this.connectCount += 1;
    this.closeCode = null;
    this._openedAt = this._lastHeardAt = this._now();
    this._setStatus('open');
    this._pingsOut.clear();
    this._sentOnOpen.clear();
    // First what the lost connection may have swallowed (older), then what
    // was queued while offline; the queue empties as it goes.
    for (const [channel, u] of [...this._unconfirmed]) {
      this._ws.send(u.text);
      this._sendCount += 1;
      this._countSent(channel);
      this._unconfirmed.set(channel, {text: u.text, n: this._sendCount});
    }
    const queued = this.queue;
    this.queue = [];
    for (const m of queued) {
      this._ws.send(m.text);
      this._sendCount += 1;
      this._countSent(m.channel);
      // unconfirmed like one sent live: this connection may die before the server reads it
      if (m.replace) this._unconfirmed.set(m.channel, {text: m.text, n: this._sendCount});
    }
    this._ping();
  }

  _countSent(channel) {
    this._sentOnOpen.set(channel, (this._sentOnOpen.get(channel) || 0) + 1);
  }

  _onMessage(ev) {
    this._lastHeardAt = this._now();
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch (e) {
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.channel !== 'string') return;
    if (msg.channel === 'ping') {
      this._onPong(msg);
      return;
    }
    if (this.seq.accept(msg) !== 'ok') return;
    if (LATEST_WINS_CHANNELS.includes(msg.channel)) this.latest.set(msg.channel, msg);
    if (msg.channel === 'error') this.lastError = msg.payload;
    this._emit('message', msg);
  }

  _onPong(msg) {
    const sentAt = Number(msg.timestamp);
    const n = this._pingsOut.get(sentAt);
    if (n !== undefined) {
      // the server read everything sent before this ping
      this._pingsOut.delete(sentAt);
      for (const [channel, u] of [...this._unconfirmed]) {
        if (u.n <= n) this._unconfirmed.delete(channel);
      }
    }
    const serverTs = msg.server_ts === undefined ? NaN : Number(msg.server_ts);
    if (this.clock.addSample(sentAt, this._now(), serverTs)) {
      this._emit('ping', {rttMs: this.clock.rttMs, clockOffsetMs: this.clock.offsetMs});
    }
  }

  _onClose(ev) {
    this._ws = null;
    this.closeCode = ev && typeof ev.code === 'number' ? ev.code : null;
    this._clearTimers();
    if (NO_RETRY_CODES.includes(this.closeCode)) {
      this.queue = [];
      this._setStatus('failed');
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    this._setStatus('waiting');
    const delay = this.backoff.next();
    this._reconnectTimer = this._setTimeout(() => {
      this._reconnectTimer = null;
      this._connect();
    }, delay);
  }

  _ping() {
    this._pingTimer = null;
    if (!this.connected || !this._ws) return;
    const now = this._now();
    if (now - this._lastHeardAt > this.deadAfterMs) {
      // Nothing heard, not even ping replies: the connection is gone even if
      // the browser has not noticed.  Replace it.
      this._detach(1000);
      this.closeCode = null;
      this._scheduleReconnect();
      return;
    }
    if (now - this._openedAt >= this.stableAfterMs) this.backoff.reset();
    const avg = this.clock.rttMs === null ? 0 : Math.round(this.clock.rttMs);
    this._ws.send(JSON.stringify({channel: 'ping', timestamp: now,
                                  avg_ping_time: avg, avgping_time: avg}));
    this._pingsOut.set(now, this._sendCount);
    this._pingTimer = this._setTimeout(() => this._ping(), this.pingIntervalMs);
  }

  _detach(code) {
    const ws = this._ws;
    this._ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try { ws.close(code); } catch (e) { /* already closed */ }
  }

  _clearTimers() {
    if (this._reconnectTimer !== null) this._clearTimeout(this._reconnectTimer);
    if (this._pingTimer !== null) this._clearTimeout(this._pingTimer);
    this._reconnectTimer = this._pingTimer = null;
  }
}
