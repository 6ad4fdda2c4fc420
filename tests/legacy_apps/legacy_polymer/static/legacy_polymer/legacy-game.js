/*
 * <legacy-game>: a game element written the way 0.9.x experiments are.
 *
 * It extends PolymerElement from the node_modules tree otree-redwood serves,
 * imports elements and styles from that tree by absolute path (as 0.9.x apps
 * do, without a bundler), binds two-way to <redwood-decision> (Polymer listens
 * for my-decision-changed / group-decisions-changed / other-decision-changed)
 * and to <redwood-period> (running-changed), and talks on a custom channel
 * through <redwood-channel>.
 */
import {html, PolymerElement} from '/static/otree-redwood/node_modules/@polymer/polymer/polymer-element.js';
import {mixinBehaviors} from '/static/otree-redwood/node_modules/@polymer/polymer/lib/legacy/class.js';
import {IronA11yKeysBehavior} from '/static/otree-redwood/node_modules/@polymer/iron-a11y-keys-behavior/iron-a11y-keys-behavior.js';
import '/static/otree-redwood/node_modules/@polymer/iron-flex-layout/iron-flex-layout.js';
import '/static/otree-redwood/node_modules/@polymer/paper-styles/color.js';
import '/static/otree-redwood/node_modules/@polymer/paper-ripple/paper-ripple.js';
import '/static/otree-redwood/src/redwood-decision/redwood-decision.js';
import '/static/otree-redwood/src/redwood-period/redwood-period.js';
import '/static/otree-redwood/src/redwood-channel/redwood-channel.js';

class LegacyGame extends mixinBehaviors([IronA11yKeysBehavior], PolymerElement) {
  static get template() {
    return html`
      <style>
        :host { display: block; outline: none; }
        .row { @apply --layout-horizontal; @apply --layout-center; }
        .grow { @apply --layout-flex; }
        #up {
          position: relative;  /* paper-ripple fills its parent */
          padding: 12px 20px;
          background: var(--paper-indigo-500);
          color: white;
          cursor: pointer;
          user-select: none;
        }
      </style>
      <redwood-period running="{{running}}"></redwood-period>
      <redwood-decision id="decision" initial-decision="[[initialDecision]]"
          my-decision="{{myDecision}}" group-decisions="{{groupDecisions}}"
          other-decision="{{otherDecision}}"></redwood-decision>
      <redwood-channel id="chat" channel="chat" on-event="_onChat"></redwood-channel>
      <div class="row">
        <div id="up" on-click="raise">Raise<paper-ripple></paper-ripple></div>
        <p class="grow">
          Running: <span id="running">[[running]]</span>,
          mine: <span id="mine">[[myDecision]]</span>,
          other: <span id="other">[[otherDecision]]</span>,
          group members: <span id="members">[[_count(groupDecisions)]]</span>
        </p>
      </div>
      <p>Last message: <span id="message">[[message]]</span></p>`;
  }

  static get properties() {
    return {
      initialDecision: {type: Number, value: 0.5},
      myDecision: {type: Number},
      otherDecision: {type: Number},
      groupDecisions: {type: Object},
      running: {type: Boolean, value: false},
      message: {type: String, value: ''},
    };
  }

  get keyBindings() {
    return {'up': 'raise', 'down': 'lower'};
  }

  ready() {
    super.ready();
    // the keys behaviour listens on the element itself: make it focusable
    this.setAttribute('tabindex', '0');
  }

  // Decisions move in tenths; rounded so that bindings compare equal values.
  raise() {
    this.myDecision = Math.min(1, Math.round((this.myDecision + 0.1) * 10) / 10);
  }

  lower() {
    this.myDecision = Math.max(0, Math.round((this.myDecision - 0.1) * 10) / 10);
  }

  say(text) {
    this.$.chat.send(text);
  }

  _onChat(event) {
    const value = event.detail.payload;
    this.message = value.from + ': ' + value.text;
  }

  _count(groupDecisions) {
    return groupDecisions ? Object.keys(groupDecisions).length : 0;
  }
}

window.customElements.define('legacy-game', LegacyGame);
