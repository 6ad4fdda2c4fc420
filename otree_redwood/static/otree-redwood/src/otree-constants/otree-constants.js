/**
 * <otree-constants>: the `window.oTree` globals as element properties.
 *
 * Properties: group ({pk, players: [{participantCode, role, id_in_group,
 * payoff}]}), role, roundNumber, participantCode, appName, idInGroup,
 * csrfToken, debug, and any other field of `window.oTree` under its own name.
 * Each fires `<kebab-name>-changed` once when the element is connected, so
 * Polymer bindings such as `participant-code="{{code}}"` pick them up.
 */
import {PropertiesMixin} from '../lib/element.js';
import {oTreeGlobals} from '../redwood-events/redwood-events.js';

const KNOWN = ['group', 'role', 'roundNumber', 'participantCode', 'appName',
               'idInGroup', 'csrfToken', 'debug'];

export class OtreeConstants extends PropertiesMixin(HTMLElement) {
  static get properties() {
    const p = {};
    for (const name of KNOWN) p[name] = {type: 'object', attribute: false};
    return p;
  }

  constructor() {
    super();
    this._load();
  }

  _load() {
    const o = oTreeGlobals();
    for (const [name, value] of Object.entries(o)) {
      if (KNOWN.includes(name)) {
        this.__data[name] = value;
      } else if (!(name in this)) {
        this[name] = value;
      }
    }
  }

  connectedCallback() {
    this._load();
    for (const name of KNOWN) this._notify(name, this.__data[name]);
  }

  /** The constants are the server's: a binding pushing undefined is ignored. */
  _setProperty(name, value) {
    if (value === undefined) return false;
    return super._setProperty(name, value);
  }
}

if (!customElements.get('otree-constants')) customElements.define('otree-constants', OtreeConstants);
