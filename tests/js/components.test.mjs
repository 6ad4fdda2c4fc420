// The behaviour of the components as 0.9.x pages see it (order of events,
// what is sent), on EventTarget with a fake socket.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {makeRedwoodDecision} from '../../otree_redwood/static/otree-redwood/src/lib/decision-element.js';
import {makeRedwoodChannel} from '../../otree_redwood/static/otree-redwood/src/lib/channel-element.js';
import {makeOtreeConstants} from '../../otree_redwood/static/otree-redwood/src/lib/constants-element.js';
import {FakeSocket, record} from './fake-socket.mjs';

const DECISION_EVENTS = ['group-decisions-changed', 'other-decision-changed',
                         'my-current-decision-changed', 'my-decision-changed', 'event'];

function decisionClass(socket, me = 'me') {
  return makeRedwoodDecision(EventTarget, {socket: () => socket, participantCode: () => me});
}

test('redwood-decision at load: defaults notified, then initialDecision becomes myDecision, not sent', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.attributeChangedCallback('initial-decision', null, '0.5');
  assert.equal(el.myDecision, undefined, 'not before the element is connected (ready)');
  assert.deepEqual(socket.sent, []);
  const log = record(el, DECISION_EVENTS);
  el.connectedCallback();
  assert.deepEqual(log, [['group-decisions-changed', {value: {}}],
                         ['other-decision-changed', {value: null}],
                         ['my-decision-changed', {value: 0.5}]]);
  // 0.9.x sent it, which reset the server's decision when a page was reloaded
  assert.deepEqual(socket.sent, []);
  assert.deepEqual(el.groupDecisions, {});
  assert.equal(el.maxPerSecond, 0);
});

test('redwood-decision without initialDecision sends nothing at load', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  assert.deepEqual(socket.sent, []);
  assert.equal(el.myDecision, undefined);
});

test('redwood-decision: setting myDecision sends each new value (by identity), null too', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  el.myDecision = 0.2;
  el.myDecision = 0.2;
  el.myDecision = null;
  el.myDecision = {a: 1};
  el.myDecision = undefined;  // 0.9.x sent a message without payload
  assert.deepEqual(socket.sent, [['decisions', 0.2], ['decisions', null], ['decisions', {a: 1}]]);
});

test('redwood-decision: a group_decisions map, in 0.9.x order, group-decisions-changed twice', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.initialDecision = 0.5;
  el.connectedCallback();
  const seen = [];
  el.addEventListener('group-decisions-changed', () =>
    seen.push([el.otherDecision, el.myCurrentDecision]));
  const log = record(el, DECISION_EVENTS);
  const msg = socket.receive('group_decisions', {me: 0.5, you: 0.9});
  assert.deepEqual(log.map(([t]) => t), ['group-decisions-changed', 'other-decision-changed',
                                         'my-current-decision-changed', 'group-decisions-changed', 'event']);
  assert.deepEqual(log[0][1], {value: {me: 0.5, you: 0.9}});
  assert.deepEqual(log[3][1], {value: {me: 0.5, you: 0.9}}, 'the second one carries the map too');
  assert.equal(log[4][1], msg);
  // otherDecision is computed before the first event; myCurrentDecision only for the second
  assert.deepEqual(seen, [[0.9, undefined], [0.9, 0.5]]);
  assert.equal(el.myDecision, 0.5, 'a chosen decision is not replaced');
});

test('redwood-decision: `event` bubbles and is composed, as from 0.9.x\'s inner channel', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  let ev = null;
  el.addEventListener('event', (e) => { ev = e; });
  socket.receive('group_decisions', {me: 1});
  assert.equal(ev.bubbles, true);
  assert.equal(ev.composed, true);
});

test('redwood-decision: otherDecision and myCurrentDecision change only when different', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  socket.receive('group_decisions', {me: 0.1, you: 0.9});
  const log = record(el, DECISION_EVENTS);
  socket.receive('group_decisions', {me: 0.1, you: 0.3});
  assert.deepEqual(log.map(([t]) => t), ['group-decisions-changed', 'other-decision-changed',
                                         'group-decisions-changed', 'event']);
});

test('redwood-decision: otherDecision is the first other member, othersMean the mean', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  socket.receive('group_decisions', {a: 0.2, me: 1, b: 0.6});
  assert.equal(el.otherDecision, 0.2);
  assert.ok(Math.abs(el.othersMean - 0.4) < 1e-12);
});

test('redwood-decision: a null myDecision takes my decision from the map, without sending it back', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.initialDecision = null;
  el.connectedCallback();
  assert.equal(el.myDecision, null);
  socket.receive('group_decisions', {me: 0.7, you: 0.1});
  assert.equal(el.myDecision, 0.7);
  // 0.9.x sent null at load and 0.7 back: two decisions that were no choice
  assert.deepEqual(socket.sent, []);
});

test('redwood-decision: without initialDecision myDecision takes my decision from the map', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  const log = record(el, ['my-decision-changed']);
  socket.receive('group_decisions', {me: 0.7, you: 0.1});
  assert.equal(el.myDecision, 0.7);
  assert.deepEqual(log, [['my-decision-changed', {value: 0.7}]]);
  assert.equal(el.myCurrentDecision, 0.7);
  assert.deepEqual(socket.sent, []);
});

test('redwood-decision: a map that is not an object is ignored', () => {
  const socket = new FakeSocket();
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  const log = record(el, DECISION_EVENTS);
  socket.receive('group_decisions', 'nonsense');
  socket.receive('group_decisions', [1, 2]);
  assert.deepEqual(log, []);
  assert.deepEqual(el.groupDecisions, {});
});

test('redwood-decision: properties set before the element was upgraded are used', () => {
  const socket = new FakeSocket();
  class PreUpgrade extends EventTarget {
    constructor() {
      super();
      // what Polymer's binding does to an element whose class is not defined yet
      for (const [k, v] of Object.entries({initialDecision: 0.25, maxPerSecond: 4})) {
        Object.defineProperty(this, k, {value: v, writable: true, configurable: true, enumerable: true});
      }
    }
  }
  const Cls = makeRedwoodDecision(PreUpgrade, {socket: () => socket, participantCode: () => 'me'});
  const el = new Cls();
  assert.equal(el.maxPerSecond, 4);
  el.connectedCallback();
  assert.equal(el.myDecision, 0.25);
  assert.deepEqual(socket.sent, []);
});

test('redwood-decision: a map that arrived before the element was connected is applied', () => {
  const socket = new FakeSocket();
  socket.receive('group_decisions', {me: 0.3, you: 0.6});
  const el = new (decisionClass(socket))();
  el.connectedCallback();
  assert.equal(el.otherDecision, 0.6);
  assert.equal(el.myCurrentDecision, 0.3);
});

function channelClass(socket) {
  return makeRedwoodChannel(EventTarget, {socket: () => socket});
}

test('redwood-channel: `event` for its channel only, bubbling and composed, detail = the message', () => {
  const socket = new FakeSocket();
  const el = new (channelClass(socket))();
  el.attributeChangedCallback('channel', null, 'orders');
  el.connectedCallback();
  const got = [];
  el.addEventListener('event', (e) => got.push(e));
  socket.receive('other', 1);
  const msg = socket.receive('orders', {price: 5});
  assert.equal(got.length, 1);
  assert.equal(got[0].detail, msg);
  assert.deepEqual(got[0].detail.payload, {price: 5});
  assert.equal(got[0].bubbles, true);
  assert.equal(got[0].composed, true);
});

test('redwood-channel: the channel set after connecting counts; send uses it', () => {
  const socket = new FakeSocket();
  const el = new (channelClass(socket))();
  el.connectedCallback();
  const got = [];
  el.addEventListener('event', (e) => got.push(e.detail.payload));
  socket.receive('x', 1);
  el.channel = 'x';
  socket.receive('x', 2);
  el.send({a: 1});
  assert.deepEqual(got, [2]);
  assert.deepEqual(socket.sent, [['x', {a: 1}]]);
});

test('redwood-channel: send without a channel is dropped with an error, not thrown', (t) => {
  const socket = new FakeSocket();
  const el = new (channelClass(socket))();
  const errors = [];
  t.mock.method(console, 'error', (...a) => errors.push(a));
  assert.equal(el.send(1), 'dropped');
  assert.deepEqual(socket.sent, []);
  assert.equal(errors.length, 1);
});

test('redwood-channel: disconnected, no events; connected twice, one subscription', () => {
  const socket = new FakeSocket();
  const el = new (channelClass(socket))();
  el.channel = 'x';
  el.connectedCallback();
  el.connectedCallback();
  const got = [];
  el.addEventListener('event', (e) => got.push(e.detail.payload));
  socket.receive('x', 1);
  el.disconnectedCallback();
  socket.receive('x', 2);
  assert.deepEqual(got, [1]);
});

const GLOBALS = {
  group: {pk: 7, players: [{participantCode: 'me', role: 'A', id_in_group: 1, payoff: 0}]},
  role: 'A', roundNumber: 2, participantCode: 'me', appName: 'app', idInGroup: 1,
  csrfToken: 'tok', debug: true, socketToken: 's',
};

test('otree-constants: 0.9.x\'s properties and types, from window.oTree at creation', () => {
  const Cls = makeOtreeConstants(EventTarget, {globals: () => GLOBALS});
  const el = new Cls();
  assert.deepEqual(el.group, GLOBALS.group);
  assert.equal(el.roundNumber, 2);
  assert.equal(el.role, 'A');
  assert.equal(el.participantCode, 'me');
  assert.equal(el.appName, 'app');
  assert.equal(el.idInGroup, '1', 'a string, as 0.9.x rendered it');
  assert.equal(el.csrfToken, 'tok');
  assert.equal(el.debug, true);
  assert.equal(el.socketToken, 's');
});

test('otree-constants: every constant notifies once at the first connection', () => {
  const Cls = makeOtreeConstants(EventTarget, {globals: () => GLOBALS});
  const el = new Cls();
  const names = ['group', 'round-number', 'role', 'participant-code', 'app-name', 'id-in-group',
                 'csrf-token', 'debug'];
  const log = record(el, names.map((n) => n + '-changed'));
  el.connectedCallback();
  assert.deepEqual(log.map(([t]) => t), names.map((n) => n + '-changed'));
  assert.equal(log[3][1].value, 'me');
  el.connectedCallback();
  assert.equal(log.length, names.length);
});

test('otree-constants: writable as in 0.9.x, but a binding pushing undefined keeps the value', () => {
  const Cls = makeOtreeConstants(EventTarget, {globals: () => GLOBALS});
  const el = new Cls();
  el.participantCode = undefined;
  assert.equal(el.participantCode, 'me');
  el.role = 'B';
  assert.equal(el.role, 'B');
});

test('otree-constants: without window.oTree, no error', () => {
  const Cls = makeOtreeConstants(EventTarget, {globals: () => undefined});
  const el = new Cls();
  assert.equal(el.participantCode, undefined);
  el.connectedCallback();
});
