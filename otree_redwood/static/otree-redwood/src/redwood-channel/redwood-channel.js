/**
 * <redwood-channel channel="x">: one named channel of the page's socket.
 *
 * Properties: channel (string).
 * Methods: send(payload): sends {channel, payload} (queued while offline).
 * Events: event, for each server message on the channel (detail = the
 *         message {channel, payload, seq, ts}); it bubbles and is composed,
 *         as in 0.9.x.
 * The page's one socket is shared by every element, in the document or in
 * any shadow root.
 */
import {makeRedwoodChannel} from '../lib/channel-element.js';
import {sharedSocket} from '../redwood-events/redwood-events.js';

export class RedwoodChannel extends makeRedwoodChannel(HTMLElement, {socket: sharedSocket}) {
  /** 0.9.x's template id: `this.$.events` (a <redwood-events>). */
  get $() {
    if (!this.__$) this.__$ = {events: document.createElement('redwood-events')};
    return this.__$;
  }
}

if (!customElements.get('redwood-channel')) customElements.define('redwood-channel', RedwoodChannel);
