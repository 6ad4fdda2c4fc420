/**
 * The behaviour of <redwood-channel>, on an injectable base class and
 * socket (node tests use an EventTarget and a fake socket).
 *
 * As in 0.9.x: `event` fires for each server message on `channel`, with the
 * message as detail ({channel, payload, ...}), and it bubbles and is
 * composed, so it leaves shadow roots (a listener on an ancestor, or on the
 * document, sees every channel's messages).  The channel is read when a
 * message arrives, so it may be set or changed at any time.
 *
 * env: {socket() -> {on(type, fn), send(channel, payload)}}
 */
import {PropertiesMixin} from './element.js';

export const makeRedwoodChannel = (Base, env) => class extends PropertiesMixin(Base) {
  static get properties() {
    return {channel: {type: 'string', notify: false}};
  }

  connectedCallback() {
    if (!this._off) {
      this._off = env.socket().on('message', (msg) => {
        if (this.channel && msg.channel === this.channel) {
          this._fire('event', msg, {bubbles: true, composed: true});
        }
      });
    }
    super.connectedCallback();
  }

  disconnectedCallback() {
    if (super.disconnectedCallback) super.disconnectedCallback();
    if (this._off) this._off();
    this._off = null;
  }

  /** Send `payload` on the channel (queued while offline). */
  send(payload) {
    if (!this.channel) {
      // 0.9.x sent a message without channel, which the server refused
      console.error('otree-redwood: <redwood-channel> has no channel; message not sent', payload);
      return 'dropped';
    }
    return env.socket().send(this.channel, payload);
  }
};
