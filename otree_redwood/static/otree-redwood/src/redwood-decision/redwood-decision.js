/**
 * <redwood-decision initial-decision max-per-second>: this participant's
 * decision and the group's, as in 0.9.x.
 *
 * Properties (each fires `<kebab-name>-changed`, detail {value}):
 *   initialDecision    set as myDecision when the element is first
 *                      connected, but not sent (0.9.x sent it, which reset
 *                      the decision of a participant who reloaded the page)
 *   myDecision         set it (or bind it with {{...}}) to send a decision on
 *                      channel `decisions`; with max-per-second, at most that
 *                      many are sent per second and the latest value is
 *                      always sent once allowed (0.9.x dropped it).  Until
 *                      the page sends one after its socket (re)connects, it
 *                      takes this participant's decision from the server's
 *                      maps, so a reloaded page shows the real one
 *   myCurrentDecision  my decision in the server's latest map
 *   groupDecisions     the server's map {participantCode: decision}; {} until
 *                      the first one arrives
 *   otherDecision      the decision of the first other member of the map
 *                      (the other player, in a group of two); null before
 *   othersMean         (new) the mean of the others' numeric decisions
 *   maxPerSecond       rate limit for sending (0 = no limit)
 * Events: group-decisions-changed (twice per map, as in 0.9.x: when
 *   groupDecisions is set, then again once myCurrentDecision is set too;
 *   detail {value: map} both times), and `event` (bubbles, composed; detail =
 *   the group_decisions message).
 * The order of all this is 0.9.x's; see lib/decision-element.js.
 */
import {makeRedwoodDecision} from '../lib/decision-element.js';
import {sharedSocket, oTreeGlobals} from '../redwood-events/redwood-events.js';
import '../otree-constants/otree-constants.js';
import '../redwood-channel/redwood-channel.js';

export class RedwoodDecision extends makeRedwoodDecision(HTMLElement, {
  socket: sharedSocket,
  participantCode: () => oTreeGlobals().participantCode,
}) {
  /** 0.9.x's template ids: `this.$.constants`, `this.$.decisionsChannel`. */
  get $() {
    if (!this.__$) {
      const decisionsChannel = document.createElement('redwood-channel');
      decisionsChannel.channel = 'decisions';
      this.__$ = {constants: document.createElement('otree-constants'), decisionsChannel};
    }
    return this.__$;
  }
}

if (!customElements.get('redwood-decision')) customElements.define('redwood-decision', RedwoodDecision);
