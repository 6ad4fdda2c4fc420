/**
 * The behaviour of <otree-constants>, on an injectable base class and
 * globals (node tests use an EventTarget and a plain object).
 *
 * The properties and types of 0.9.x's element: group ({pk, players}),
 * roundNumber (number), role, participantCode, appName, idInGroup (a string,
 * as 0.9.x's page rendered it), csrfToken (0.9.x read a misspelt global
 * and always gave undefined; this is the real token) and debug (boolean),
 * read from `window.oTree` when the element is created, so a page's
 * `this.$.constants.participantCode` works from its own ready().  Every
 * other field of `window.oTree` is there too, under its own name.  All
 * notify: at the first connection each fires `<kebab-name>-changed` (what
 * `participant-code="{{code}}"` listens for).  They are writable, as in
 * 0.9.x (its `readonly` flags were misspelt and had no effect), but a
 * binding that pushes undefined does not erase a constant.
 *
 * env: {globals() -> the window.oTree object}
 */
import {PropertiesMixin} from './element.js';

export const CONSTANTS = Object.freeze({
  group: 'json', roundNumber: 'number', role: 'string', participantCode: 'string',
  appName: 'string', idInGroup: 'string', csrfToken: 'string', debug: 'boolean',
});

export const makeOtreeConstants = (Base, env) => class extends PropertiesMixin(Base) {
  static get properties() {
    const p = {};
    for (const [name, type] of Object.entries(CONSTANTS)) p[name] = {type};
    return p;
  }

  constructor() {
    super();
    this._load();
  }

  _load() {
    const o = env.globals() || {};
    for (const [name, value] of Object.entries(o)) {
      if (Object.prototype.hasOwnProperty.call(CONSTANTS, name)) {
        // a value the page (or a binding) set before the element was created wins
        if (this.__data[name] === undefined) this.__data[name] = coerce(name, value);
      } else if (!(name in this)) {
        this[name] = value;
      }
    }
  }

  /** The constants are the server's: a binding pushing undefined is ignored. */
  _setProperty(name, value) {
    if (value === undefined) return false;
    return super._setProperty(name, value);
  }
};

function coerce(name, value) {
  if (name === 'idInGroup' && typeof value === 'number') return String(value);
  if (name === 'debug' && value !== undefined) return Boolean(value);
  return value;
}
