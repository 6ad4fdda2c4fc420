import {test} from 'node:test';
import assert from 'node:assert/strict';
import {PropertiesMixin, kebab, convertAttribute}
  from '../../otree_redwood/static/otree-redwood/src/lib/element.js';

// An EventTarget stands in for HTMLElement: the mixin needs only dispatchEvent.
class Fake extends PropertiesMixin(EventTarget) {
  static get properties() {
    return {
      maxPerSecond: {type: 'number'},
      initialDecision: {type: 'json'},
      active: {type: 'boolean', value: false},
      groupDecisions: {type: 'object', attribute: false, value: () => ({})},
      myDecision: {type: 'json', observer: '_seen'},
    };
  }
  _seen(v, old) { (this.seen ||= []).push([v, old]); }
}

function events(el, name) {
  const got = [];
  el.addEventListener(name, (e) => got.push(e));
  return got;
}

test('kebab-case names', () => {
  assert.equal(kebab('maxPerSecond'), 'max-per-second');
  assert.equal(kebab('myDecision'), 'my-decision');
});

test('observed attributes are the kebab-case property names', () => {
  assert.deepEqual(Fake.observedAttributes.sort(),
                   ['active', 'initial-decision', 'max-per-second', 'my-decision']);
});

test('setting a property fires <kebab>-changed with detail.value, not bubbling', () => {
  const el = new Fake();
  const got = events(el, 'my-decision-changed');
  el.myDecision = 0.3;
  assert.equal(got.length, 1);
  assert.equal(got[0].detail.value, 0.3);
  assert.equal(got[0].bubbles, false);
  assert.deepEqual(el.seen, [[0.3, undefined]]);
});

test('setting the same value again fires nothing (no binding loops)', () => {
  const el = new Fake();
  const map = {a: 1};
  el.groupDecisions = map;
  const got = events(el, 'group-decisions-changed');
  el.groupDecisions = map;
  el.myDecision = 1;
  el.myDecision = 1;
  assert.equal(got.length, 0);
  assert.equal(el.seen.length, 1);
});

test('attributes map to camelCase properties with conversion', () => {
  const el = new Fake();
  el.attributeChangedCallback('max-per-second', null, '10');
  el.attributeChangedCallback('initial-decision', null, '0.5');
  el.attributeChangedCallback('active', null, '');
  assert.equal(el.maxPerSecond, 10);
  assert.equal(el.initialDecision, 0.5);
  assert.equal(el.active, true);
  el.attributeChangedCallback('active', '', null);
  assert.equal(el.active, false);
});

test('defaults are per instance', () => {
  const a = new Fake();
  const b = new Fake();
  assert.notEqual(a.groupDecisions, b.groupDecisions);
  assert.equal(a.active, false);
});

test('values set before upgrade are kept', () => {
  // Before a custom element is defined, a binding sets a plain own property
  // that would shadow the accessor; the base below recreates that situation.
  class PreUpgrade extends EventTarget {
    constructor() {
      super();
      Object.defineProperty(this, 'foo', {value: 7, writable: true, configurable: true, enumerable: true});
    }
  }
  class Late extends PropertiesMixin(PreUpgrade) {
    static get properties() { return {foo: {type: 'number'}}; }
  }
  const el = new Late();
  assert.equal(Object.prototype.hasOwnProperty.call(el, 'foo'), false, 'own property moved');
  assert.equal(el.foo, 7);
  const got = events(el, 'foo-changed');
  el.foo = 8;
  assert.equal(got.length, 1, 'accessor works after upgrade');
});

test('attribute conversion edge cases, as Polymer deserializes', () => {
  assert.equal(convertAttribute('number', ''), 0);
  assert.ok(Number.isNaN(convertAttribute('number', 'abc')));
  assert.equal(convertAttribute('number', null), null);
  assert.equal(convertAttribute('boolean', 'false'), true, 'present is true, whatever the text');
  assert.equal(convertAttribute('boolean', null), false);
  assert.equal(convertAttribute((t) => 'f:' + t, 'x'), 'f:x');
  assert.equal(convertAttribute('json', null), undefined);
  assert.equal(convertAttribute('string', 'x'), 'x');
});

test('first connection (Polymer ready): each notifying property with a value fires once, then ready()', () => {
  class Ready extends PropertiesMixin(EventTarget) {
    static get properties() {
      return {a: {value: () => ({})}, b: {value: null}, c: {}, quiet: {value: 1, notify: false}};
    }
    ready() { this.order.push('ready'); }
  }
  const el = new Ready();
  el.order = [];
  for (const name of ['a-changed', 'b-changed', 'c-changed', 'quiet-changed']) {
    el.addEventListener(name, (e) => el.order.push([name, e.detail.value]));
  }
  el.connectedCallback();
  assert.deepEqual(el.order, [['a-changed', {}], ['b-changed', null], 'ready']);
  el.order = [];
  el.connectedCallback();  // moved in the DOM: not again
  assert.deepEqual(el.order, []);
});
