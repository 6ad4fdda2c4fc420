/**
 * <redwood-events>: the page's one WebSocket to the otree-redwood server.
 *
 * Every <redwood-*> element on a page shares a single socket, created by
 * `sharedSocket()` the first time any of them is connected.  The element
 * itself is a window onto that socket:
 *
 * Properties (each fires `<kebab-name>-changed`, detail {value}):
 *   connected      true while the socket is open
 *   rttMs          round-trip time to the server, moving average (ms)
 *   clockOffsetMs  server clock minus local clock (ms)
 *   lastSeq        highest server sequence number seen
 *   status         'connecting' | 'open' | 'waiting' | 'failed' | 'stopped'
 * Events:
 *   event          every server message except ping replies (detail = the
 *                  message: {channel, payload, seq, ts}); errors from the
 *                  server arrive as channel "error".
 *   ping           (0.9.x) true: ping the server every second instead of
 *                  every 5 s; togglePing() switches it
 *   socket         (0.9.x) the page's socket; `socket.readyState` is 1 while open
 * Methods:
 *   send(channel, payload), togglePing()
 * As in 0.9.x, `event` does not bubble; `this.$.constants` is an
 * <otree-constants>.
 *
 * With `oTree.debug` a small fixed-position indicator shows the connection
 * (green/red dot), the round trip, and the last error.
 */
import {PropertiesMixin} from '../lib/element.js';
import {RedwoodSocket, socketUrl} from '../lib/socket.js';

let shared = null;

/** The `window.oTree` globals set by otree_redwood/Page.html. */
export function oTreeGlobals() {
  return (typeof window !== 'undefined' && window.oTree) || {};
}

/** The page's socket, created and started on first use. */
export function sharedSocket() {
  if (shared) return shared;
  const o = oTreeGlobals();
  shared = new RedwoodSocket({
    url: (seq) => socketUrl({
      protocol: window.location.protocol,
      host: window.location.host,
      appName: o.appName,
      groupPk: o.group && o.group.pk,
      participantCode: o.participantCode,
      token: o.socketToken,
      seq,
    }),
    WebSocket: window.WebSocket,
  });
  // For the page, the end-to-end tests and the browser console.
  window.redwoodSocket = shared;
  if (!o.appName || !o.participantCode || !o.group || o.group.pk === undefined || o.group.pk === null) {
    console.error('otree-redwood: window.oTree is missing appName, participantCode or group.pk; ' +
                  'does the template extend "otree_redwood/Page.html"?');
    shared.status = 'failed';
    return shared;
  }
  // Leaving the page (e.g. the form is submitted): no reconnect attempts.
  window.addEventListener('pagehide', () => shared.stop());
  window.addEventListener('pageshow', (e) => { if (e.persisted) shared.resume(); });
  if (o.debug) installIndicator(shared);
  shared.start();
  return shared;
}

function installIndicator(socket) {
  const add = () => {
    const box = document.createElement('div');
    box.id = 'redwood-connection-indicator';
    box.setAttribute('role', 'status');
    box.style.cssText = 'position:fixed;right:8px;bottom:8px;z-index:2147483647;' +
      'font:12px/1.4 sans-serif;background:rgba(255,255,255,.9);border:1px solid #ccc;' +
      'border-radius:10px;padding:2px 8px;color:#333;pointer-events:auto;max-width:40em';
    const dot = document.createElement('span');
    dot.style.cssText = 'display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:5px';
    const text = document.createElement('span');
    const err = document.createElement('span');
    err.style.cssText = 'color:#b00;margin-left:6px';
    box.append(dot, text, err);
    document.body.appendChild(box);
    const render = () => {
      const ok = socket.connected;
      dot.style.background = ok ? '#2a2' : '#d22';
      box.dataset.status = socket.status;
      let t = ok ? 'connected' : socket.status;
      if (ok && socket.rttMs !== null) t += ` ${Math.round(socket.rttMs)} ms`;
      if (socket.status === 'failed' && socket.closeCode) t += ` (${socket.closeCode})`;
      text.textContent = t;
      const e = socket.lastError;
      err.textContent = e ? String(e.reason || JSON.stringify(e)) : '';
      box.title = `redwood socket: ${socket.status}; last seq ${socket.lastSeq}`;
    };
    socket.on('status', render);
    socket.on('ping', render);
    socket.on('message', (m) => { if (m.channel === 'error') render(); });
    render();
  };
  if (document.body) add();
  else document.addEventListener('DOMContentLoaded', add, {once: true});
}

export class RedwoodEvents extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      connected: {type: 'boolean', value: false, attribute: false},
      rttMs: {type: 'number', value: null, attribute: false},
      clockOffsetMs: {type: 'number', value: null, attribute: false},
      lastSeq: {type: 'number', value: null, attribute: false},
      status: {type: 'string', value: 'idle', attribute: false},
      ping: {type: 'boolean', value: false, notify: false, observer: '_pingChanged'},
    };
  }

  get socket() { return sharedSocket(); }

  get $() {
    if (!this.__$) this.__$ = {constants: document.createElement('otree-constants')};
    return this.__$;
  }

  togglePing() {
    this.ping = !this.ping;
  }

  _pingChanged(on) {
    const socket = sharedSocket();
    if (socket.pingIntervalMs === undefined) return;
    if (this._defaultPingMs === undefined) this._defaultPingMs = socket.pingIntervalMs;
    socket.pingIntervalMs = on ? 1000 : this._defaultPingMs;
  }

  connectedCallback() {
    const socket = sharedSocket();
    if (this._off) return;
    this._off = [
      socket.on('message', (msg) => {
        this.lastSeq = socket.lastSeq;
        this._fire('event', msg);
      }),
      socket.on('status', () => this._sync(socket)),
      socket.on('ping', () => this._sync(socket)),
    ];
    this._sync(socket);
    super.connectedCallback();
  }

  disconnectedCallback() {
    (this._off || []).forEach((off) => off());
    this._off = null;
  }

  _sync(socket) {
    this.status = socket.status;
    this.connected = socket.connected;
    this.rttMs = socket.rttMs;
    this.clockOffsetMs = socket.clockOffsetMs;
    this.lastSeq = socket.lastSeq;
  }

  /** Send `payload` on `channel` (queued while offline). */
  send(channel, payload) {
    return sharedSocket().send(channel, payload);
  }
}

if (!customElements.get('redwood-events')) customElements.define('redwood-events', RedwoodEvents);
