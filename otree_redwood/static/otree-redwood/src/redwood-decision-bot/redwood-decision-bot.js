/**
 * <redwood-decision-bot>: plays a decision automatically, for testing a game
 * with fewer people than seats.  0.9.x's element, with two additions.
 *
 * Properties: myDecision (fires my-decision-changed: bind it to the page's
 * decision, as 0.9.x pages do), otherDecision, payoffFunction
 * (function(myDecision, otherDecision) -> number), velocity (0.1), lambda
 * (0.1), pattern (false; true alternates lambda / 1 - lambda; new: an array
 * of decisions, or JSON in the attribute, is played in turn), direction,
 * running, debug (oTree.debug), active (new: plays without debug).
 * Methods: start(), stop(), togglePattern().
 * It plays while the period runs and debug or active is set, and in debug
 * mode shows 0.9.x's small panel (velocity, lambda, pattern, start/stop).
 * New: a bot in the document itself (not in a Polymer element's shadow
 * root, where the page binds it) also plays the document's
 * <redwood-decision>.  The strategy is in lib/bot.js.
 */
import {makeRedwoodDecisionBot} from '../lib/bot.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';
import '../otree-constants/otree-constants.js';
import '../redwood-period/redwood-period.js';

const PANEL = `<style>:host{display:block}.well{border:1px solid #ddd;border-radius:4px;padding:.5em 1em;
margin:.5em 0;background:#f5f5f5;font:13px/1.4 sans-serif}[hidden]{display:none}</style>
<div class="well"><p>Continuous Decision Bot</p>
<p>Direction of max payoff: <span id="direction"></span></p>
<p><label>Velocity <input id="velocity" type="number" min="0" max="1" step=".01"></label></p>
<p><label>Lambda <input id="lambda" type="number" min="0" max="1" step=".01"></label></p>
<p><button id="gradient" type="button">Gradient</button><button id="pattern" type="button">Pattern</button></p>
<p><button id="stop" type="button">Stop</button><button id="start" type="button">Start</button></p></div>`;

export class RedwoodDecisionBot extends makeRedwoodDecisionBot(HTMLElement, {
  socket: sharedSocket,
  globals: oTreeGlobals,
  decision: (bot) => (bot.getRootNode() === document ? document.querySelector('redwood-decision') : null),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  random: Math.random,
}) {
  connectedCallback() {
    super.connectedCallback();
    if (this.debug && !this.shadowRoot) this._renderPanel();
  }

  _renderPanel() {
    const root = this.attachShadow({mode: 'open'});
    root.innerHTML = PANEL;
    const $ = (id) => root.getElementById(id);
    for (const name of ['velocity', 'lambda']) {
      $(name).addEventListener('input', (e) => {
        const n = Number(e.target.value);
        if (e.target.value !== '' && Number.isFinite(n)) this[name] = n;
      });
    }
    $('gradient').addEventListener('click', () => this.togglePattern());
    $('pattern').addEventListener('click', () => this.togglePattern());
    $('start').addEventListener('click', () => this.start());
    $('stop').addEventListener('click', () => this.stop());
    this._render = () => {
      $('direction').textContent = this.direction || '';
      for (const name of ['velocity', 'lambda']) {
        if (root.activeElement !== $(name)) $(name).value = String(this[name]);
      }
      $('gradient').hidden = !this.pattern;
      $('pattern').hidden = Boolean(this.pattern);
      $('stop').hidden = !this.running;
      $('start').hidden = Boolean(this.running);
    };
    this._render();
  }

  /** 0.9.x's template id: `this.$.constants`. */
  get $() {
    if (!this.__$) this.__$ = {constants: document.createElement('otree-constants')};
    return this.__$;
  }
}

if (!customElements.get('redwood-decision-bot')) {
  customElements.define('redwood-decision-bot', RedwoodDecisionBot);
}
