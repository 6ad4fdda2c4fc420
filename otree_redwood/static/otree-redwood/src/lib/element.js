/**
 * Properties for plain custom elements, Polymer-binding compatible.
 *
 * `PropertiesMixin(HTMLElement)` gives a class whose static `properties`
 * (`{name: {type, value, notify, attribute, observer}}`) become accessors:
 * - setting a property stores it, calls `this[observer](value, old)` and
 *   dispatches `<kebab-name>-changed` with `detail: {value}` (what Polymer's
 *   two-way bindings `{{...}}` listen for), but only when the value changed
 *   by identity (as Polymer decides it; a mutated object set again is not a
 *   change);
 * - the kebab-case attribute (`max-per-second`) sets the camelCase property
 *   (`maxPerSecond`), converted by `type` as Polymer deserializes it:
 *   'number' (Number(text)), 'boolean' (present = true, whatever the text),
 *   'string', or 'json' (JSON when it parses, else the string, like
 *   Polymer's Object), or a function(text) -> value;
 * - a property set on the element before the class was defined (Polymer can
 *   do that) is picked up on upgrade;
 * - the first time the element is connected (Polymer's `ready`), every
 *   notifying property that has a value fires `<kebab-name>-changed` once,
 *   then `ready()` runs: a Polymer host's two-way bindings get the initial
 *   values and defaults as they did from 0.9.x's Polymer elements.  A host's
 *   listeners exist by then (Polymer stamps and binds its template before it
 *   attaches it).
 * The mixin only touches the DOM through the base class it is given, so it
 * can be tested in node with an EventTarget subclass.
 */
import {parseJsonish} from './decisions.js';

export function kebab(name) {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

export function convertAttribute(type, text) {
  if (typeof type === 'function') return type(text);
  switch (type) {
    // Polymer: an attribute that is present is true, even "false"
    case 'boolean': return text !== null;
    case 'number': return text === null ? null : Number(text);
    case 'json': return text === null ? undefined : parseJsonish(text);
    default: return text;
  }
}

const FINALIZED = Symbol('finalized');

export const PropertiesMixin = (Base) => class extends Base {
  static get observedAttributes() {
    this._finalizeProperties();
    return [...this._attributeToProperty.keys()];
  }

  static _finalizeProperties() {
    if (Object.prototype.hasOwnProperty.call(this, FINALIZED)) return;
    this[FINALIZED] = true;
    this._attributeToProperty = new Map();
    const props = this.properties || {};
    for (const [name, opts] of Object.entries(props)) {
      if (opts.attribute !== false) {
        this._attributeToProperty.set(opts.attribute || kebab(name), name);
      }
      if (Object.prototype.hasOwnProperty.call(this.prototype, name)) continue;
      Object.defineProperty(this.prototype, name, {
        configurable: true,
        enumerable: true,
        get() { return this.__data[name]; },
        set(value) { this._setProperty(name, value); },
      });
    }
  }

  constructor() {
    super();
    this.constructor._finalizeProperties();
    this.__data = {};
    const props = this.constructor.properties || {};
    for (const [name, opts] of Object.entries(props)) {
      if ('value' in opts) {
        this.__data[name] = typeof opts.value === 'function' ? opts.value() : opts.value;
      }
    }
    // Values set as own properties before the element was upgraded shadow
    // the accessors: move them into the accessor.
    for (const name of Object.keys(props)) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this._setProperty(name, value);
      }
    }
  }

  connectedCallback() {
    if (super.connectedCallback) super.connectedCallback();
    if (this.__isReady) return;
    this.__isReady = true;
    const props = this.constructor.properties || {};
    for (const [name, opts] of Object.entries(props)) {
      if (opts.notify !== false && this.__data[name] !== undefined) this._notify(name, this.__data[name]);
    }
    this.ready();
  }

  /** Runs once, at the first connection, after the initial notifications. */
  ready() {}

  attributeChangedCallback(attr, oldText, newText) {
    if (super.attributeChangedCallback) super.attributeChangedCallback(attr, oldText, newText);
    const name = this.constructor._attributeToProperty.get(attr);
    if (!name || oldText === newText) return;
    const opts = this.constructor.properties[name];
    this[name] = convertAttribute(opts.type, newText);
  }

  /** Store a property; returns true when it changed. */
  _setProperty(name, value) {
    const old = this.__data[name];
    if (Object.is(old, value)) return false;
    this.__data[name] = value;
    const opts = (this.constructor.properties || {})[name] || {};
    if (opts.observer && typeof this[opts.observer] === 'function') {
      try {
        this[opts.observer](value, old);
      } catch (e) {
        reportError(e);
      }
    }
    if (opts.notify !== false) this._notify(name, value);
    return true;
  }

  _notify(name, value) {
    this.dispatchEvent(new CustomEvent(kebab(name) + '-changed', {
      detail: {value}, bubbles: false, composed: false,
    }));
  }

  /** Dispatch a non-bubbling event with a detail (like Polymer's `fire`). */
  _fire(type, detail, options = {}) {
    const ev = new CustomEvent(type, {detail, bubbles: false, composed: false, ...options});
    this.dispatchEvent(ev);
    return ev;
  }
};

function reportError(e) {
  if (typeof console !== 'undefined') console.error(e);
}
