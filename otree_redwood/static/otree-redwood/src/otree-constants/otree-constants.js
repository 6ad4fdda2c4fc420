/**
 * <otree-constants>: the `window.oTree` globals as element properties.
 *
 * Properties (0.9.x's): group ({pk, players: [{participantCode, role,
 * id_in_group, payoff}]}), roundNumber, role, participantCode, appName,
 * idInGroup (a string, as in 0.9.x), csrfToken, debug; and any other field
 * of `window.oTree` under its own name.  Each fires `<kebab-name>-changed`
 * when the element is first connected, so Polymer bindings such as
 * `participant-code="{{code}}"` pick them up.  See lib/constants-element.js.
 */
import {makeOtreeConstants} from '../lib/constants-element.js';
import {oTreeGlobals} from '../redwood-events/redwood-events.js';

export class OtreeConstants extends makeOtreeConstants(HTMLElement, {globals: oTreeGlobals}) {}

if (!customElements.get('otree-constants')) customElements.define('otree-constants', OtreeConstants);
