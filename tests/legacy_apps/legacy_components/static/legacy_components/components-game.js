// A 0.9.x-style game element: Polymer 3 from the vendored node_modules, the
// components imported by their 0.9.x paths, two-way bindings, on-event.
import {html, PolymerElement} from '/static/otree-redwood/node_modules/@polymer/polymer/polymer-element.js';
import '/static/otree-redwood/src/otree-constants/otree-constants.js';
import '/static/otree-redwood/src/redwood-period/redwood-period.js';
import '/static/otree-redwood/src/redwood-decision/redwood-decision.js';
import '/static/otree-redwood/src/redwood-channel/redwood-channel.js';

class ComponentsGame extends PolymerElement {
  static get template() {
    return html`
      <otree-constants id="constants" participant-code="{{ myCode }}"></otree-constants>
      <redwood-period running="{{ running }}" on-period-start="_onPeriodStart"></redwood-period>
      <redwood-decision id="decision"
          initial-decision="[[ initialDecision ]]"
          my-decision="{{ myDecision }}"
          my-current-decision="{{ myCurrentDecision }}"
          group-decisions="{{ groupDecisions }}"
          other-decision="{{ otherDecision }}"
          on-group-decisions-changed="_onGroupDecisionsChanged">
      </redwood-decision>
      <redwood-channel id="chat" channel="chat" on-event="_onChat"></redwood-channel>
      <p>Running: <span id="running">[[ running ]]</span></p>
      <p>Mine: <span id="mine">[[ myDecision ]]</span> (server: <span id="current">[[ myCurrentDecision ]]</span>)</p>
      <p>Other: <span id="other">[[ otherDecision ]]</span></p>
      <p>Members: <span id="members">[[ _count(groupDecisions) ]]</span></p>
      <p>Chat: <span id="message">[[ message ]]</span></p>
    `;
  }

  static get properties() {
    return {
      initialDecision: {type: Number, value: 0.5},
      myDecision: {type: Number},
      myCurrentDecision: {type: Number},
      groupDecisions: {type: Object},
      otherDecision: {type: Number},
      myCode: {type: String},
      running: {type: Boolean},
      message: {type: String},
    };
  }

  constructor() {
    super();
    this.periodStarts = 0;
    this.seen = [];          // the bound groupDecisions, at each group-decisions-changed
    this.bubbled = [];       // channels of `event`s that reached this element
    this.addEventListener('event', (e) => this.bubbled.push(e.detail.channel));
  }

  ready() {
    super.ready();
    // 0.9.x pages read their own otree-constants through this.$
    this.codeAtReady = this.$.constants.participantCode;
    this.idInGroup = this.$.constants.idInGroup;
  }

  _count(groupDecisions) {
    return groupDecisions ? Object.keys(groupDecisions).length : 0;
  }

  _onPeriodStart() {
    this.periodStarts += 1;
  }

  _onGroupDecisionsChanged() {
    this.seen.push(this.groupDecisions);
  }

  _onChat(event) {
    this.message = event.detail.payload.from + ': ' + event.detail.payload.text;
  }

  say(text) {
    this.$.chat.send(text);
  }
}

customElements.define('components-game', ComponentsGame);
