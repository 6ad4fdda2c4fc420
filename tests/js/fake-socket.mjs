// The page socket as the components see it: on(), send(), latest, state.
export class FakeSocket {
  constructor() {
    this.listeners = new Set();
    this.sent = [];
    this.latest = new Map();
  }
  on(type, fn) {
    if (type !== 'message') return () => {};
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  send(channel, payload) {
    this.sent.push([channel, payload]);
    return 'queued';
  }
  /** Messages on `channel` since the last (re)connect, as RedwoodSocket counts them. */
  sentSinceOpen(channel) {
    return this.sent.slice(this.openedAt || 0).filter(([c]) => c === channel).length;
  }
  /** The connection was replaced (nothing re-sent). */
  reconnect() {
    this.openedAt = this.sent.length;
  }
  get state() {
    const m = this.latest.get('state');
    return m ? m.payload : undefined;
  }
  /** A server frame. */
  receive(channel, payload) {
    const msg = {channel, payload};
    if (channel === 'state' || channel === 'group_decisions') this.latest.set(channel, msg);
    for (const fn of [...this.listeners]) fn(msg);
    return msg;
  }
}

/** Record every listed event of `el` in order: [type, detail]. */
export function record(el, types) {
  const log = [];
  for (const t of types) el.addEventListener(t, (e) => log.push([t, e.detail]));
  return log;
}
