/**
 * <redwood-channel channel="x">: one named channel of the page's socket.
 *
 * Properties: channel (string).
 * Methods: send(payload): sends {channel, payload} (queued while offline).
 * Events: event, for each server message on the channel (detail = the
 *         message {channel, payload, seq, ts}).
 */
import {PropertiesMixin} from '../lib/element.js';
import {sharedSocket} from '../redwood-events/redwood-events.js';

export class RedwoodChannel extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {channel: {type: 'string'}};
  }

  connectedCallback() {
    const socket = sharedSocket();
    this._off = socket.on('message', (msg) => {
      if (this.channel && msg.channel === this.channel) this._fire('event', msg);
    });
  }

  disconnectedCallback() {
    if (this._off) this._off();
    this._off = null;
  }

  send(payload) {
    if (!this.channel) throw new Error('<redwood-channel> has no channel attribute');
    return sharedSocket().send(this.channel, payload);
  }
}

if (!customElements.get('redwood-channel')) customElements.define('redwood-channel', RedwoodChannel);
