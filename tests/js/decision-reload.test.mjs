// <redwood-decision> and the server's view of the participant's decision:
// loading a page sends nothing, a page (re)loaded mid-period shows the
// server's decision, and a decision the page sent is never overwritten by a
// map that may predate it.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {makeRedwoodDecision} from '../../otree_redwood/static/otree-redwood/src/lib/decision-element.js';
import {RedwoodSocket} from '../../otree_redwood/static/otree-redwood/src/lib/socket.js';
import {Backoff} from '../../otree_redwood/static/otree-redwood/src/lib/backoff.js';
import {FakeSocket, record} from './fake-socket.mjs';
import {FakeClock} from './fake-clock.mjs';

function decision(socket, {initial = 0.5, me = 'me', maxPerSecond, timers} = {}) {
  const Cls = makeRedwoodDecision(EventTarget, {socket: () => socket, participantCode: () => me, timers});
  const el = new Cls();
  if (initial !== undefined) el.initialDecision = initial;
  if (maxPerSecond !== undefined) el.maxPerSecond = maxPerSecond;
  return el;
}

test('a page loaded mid-period shows the server\'s decision and sends nothing', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  const log = record(el, ['my-decision-changed', 'my-current-decision-changed']);
  el.connectedCallback();
  // what the server sends a connecting page: the latest state, then the map
  socket.receive('state', 'period_start');
  socket.receive('group_decisions', {me: 0.8, you: 0.3});
  assert.equal(el.myDecision, 0.8);
  assert.deepEqual(log, [['my-decision-changed', {value: 0.5}],
                         ['my-current-decision-changed', {value: 0.8}],
                         ['my-decision-changed', {value: 0.8}]]);
  assert.deepEqual(socket.sent, [], 'neither the initial decision nor the adopted one is sent');
});

test('a map equal to my decision changes nothing (JSON-equal counts as equal)', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: {price: 3}});
  el.connectedCallback();
  const before = el.myDecision;
  const log = record(el, ['my-decision-changed']);
  socket.receive('group_decisions', {me: {price: 3}, you: {price: 9}});
  assert.equal(el.myDecision, before);
  assert.deepEqual(log, []);
});

test('a map without my entry leaves myDecision alone', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  socket.receive('group_decisions', {you: 0.3});
  assert.equal(el.myDecision, 0.5);
  assert.equal(el.myCurrentDecision, undefined);
});

test('my own change made before the first map is not overwritten by it', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  socket.receive('state', 'period_start');
  el.myDecision = 0.9;
  socket.receive('group_decisions', {me: 0.5, you: 0.3});  // older than my 0.9
  assert.equal(el.myDecision, 0.9);
  assert.equal(el.myCurrentDecision, 0.5);
  socket.receive('group_decisions', {me: 0.9, you: 0.3});
  assert.equal(el.myDecision, 0.9);
  assert.deepEqual(socket.sent, [['decisions', 0.9]]);
});

test('until the page sends, later maps are followed too (a stale first map is corrected)', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  // e.g. sub-periods: a connecting page gets the last sub-period's map
  socket.receive('group_decisions', {me: 0.6, you: 0.3});
  socket.receive('group_decisions', {me: 0.7, you: 0.3});
  assert.equal(el.myDecision, 0.7);
  el.myDecision = 0.2;
  socket.receive('group_decisions', {me: 0.7, you: 0.4});  // predates my 0.2
  assert.equal(el.myDecision, 0.2);
  assert.deepEqual(socket.sent, [['decisions', 0.2]]);
});

test('after a reconnect with nothing sent since, the server\'s map counts again', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  el.myDecision = 0.9;
  socket.reconnect();
  socket.receive('group_decisions', {me: 0.4, you: 0.3});  // e.g. changed by the server's code
  assert.equal(el.myDecision, 0.4);
  assert.deepEqual(socket.sent, [['decisions', 0.9]]);
});

test('a decision waiting for max-per-second is not overwritten by a map', () => {
  const socket = new FakeSocket();
  const clock = new FakeClock();
  const el = decision(socket, {initial: 0.5, maxPerSecond: 1, timers: clock});
  el.connectedCallback();
  socket.receive('state', 'period_start');
  el.myDecision = 0.6;     // sent at once
  socket.reconnect();
  clock.advance(400);
  el.myDecision = 0.7;     // waits for the rest of the second
  assert.deepEqual(socket.sent, [['decisions', 0.6]]);
  socket.receive('group_decisions', {me: 0.6, you: 0.3});
  assert.equal(el.myDecision, 0.7);
  clock.advance(600);
  assert.deepEqual(socket.sent, [['decisions', 0.6], ['decisions', 0.7]]);
});

test('a decision sent before the period started is sent again when it starts', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  el.myDecision = 0.9;                       // the server ignores it: not started
  socket.receive('state', 'period_start');   // sent again
  socket.receive('group_decisions', {me: 0.5, you: 0.5});  // the server's opening map
  assert.equal(el.myDecision, 0.9);
  assert.deepEqual(socket.sent, [['decisions', 0.9], ['decisions', 0.9]]);
  socket.receive('state', 'period_start');   // a replay: not again
  assert.equal(socket.sent.length, 2);
});

test('a decision sent while the period runs is not sent again', () => {
  const socket = new FakeSocket();
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  socket.receive('state', 'period_start');
  el.myDecision = 0.9;
  socket.receive('state', 'period_start');
  assert.deepEqual(socket.sent, [['decisions', 0.9]]);
});

// ---------------------------------------------------- with the real socket

class FakeWS {
  static instances = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    FakeWS.instances.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(text));
  }
  close() { this.readyState = 3; }
  open() { this.readyState = 1; this.onopen && this.onopen({}); }
  receive(obj) { this.onmessage && this.onmessage({data: JSON.stringify(obj)}); }
  drop() { this.readyState = 3; this.onclose && this.onclose({code: 1006}); }
  decisions() { return this.sent.filter((m) => m.channel === 'decisions').map((m) => m.payload); }
}

function page() {
  FakeWS.instances = [];
  const clock = new FakeClock();
  const socket = new RedwoodSocket({
    url: () => 'ws://h/x/', WebSocket: FakeWS,
    now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    backoff: new Backoff({jitter: 0}),
  });
  const el = decision(socket, {initial: 0.5});
  el.connectedCallback();
  socket.start();
  return {clock, socket, el, ws: () => FakeWS.instances[FakeWS.instances.length - 1]};
}

test('real socket: a reloaded page adopts the server\'s decision and sends none', () => {
  const {socket, el, ws} = page();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 1});
  ws().receive({channel: 'group_decisions', payload: {me: 0.8, you: 0.3}, seq: 7});
  assert.equal(el.myDecision, 0.8);
  assert.deepEqual(ws().decisions(), []);
  assert.equal(socket.sentSinceOpen('decisions'), 0);
});

test('real socket: the unconfirmed decision re-sent after a reconnect is not overwritten', () => {
  const {clock, el, ws} = page();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 1});
  ws().receive({channel: 'group_decisions', payload: {me: 0.5, you: 0.3}, seq: 2});
  el.myDecision = 0.9;  // written into a connection that dies before the server reads it
  ws().drop();
  clock.advance(60000);
  ws().open();
  assert.deepEqual(ws().decisions(), [0.9], 're-sent once on the new connection');
  // the server's map from before it read the re-sent decision
  ws().receive({channel: 'group_decisions', payload: {me: 0.5, you: 0.4}, seq: 3});
  assert.equal(el.myDecision, 0.9);
  ws().receive({channel: 'group_decisions', payload: {me: 0.9, you: 0.4}, seq: 4});
  assert.equal(el.myDecision, 0.9);
});

test('real socket: a decision queued while offline is not overwritten by the next map', () => {
  const {clock, el, ws} = page();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 1});
  ws().drop();
  el.myDecision = 0.7;  // queued
  clock.advance(60000);
  ws().open();
  assert.deepEqual(ws().decisions(), [0.7]);
  ws().receive({channel: 'group_decisions', payload: {me: 0.5, you: 0.3}, seq: 2});
  assert.equal(el.myDecision, 0.7);
});

test('real socket: confirmed decisions do not stop a later connection from trusting the server', () => {
  const {clock, el, ws} = page();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 1});
  el.myDecision = 0.9;
  // a ping sent after the decision, answered: the server has read it
  clock.advance(5000);
  const ping = ws().sent.filter((m) => m.channel === 'ping').pop();
  ws().receive({channel: 'ping', timestamp: ping.timestamp});
  ws().drop();
  clock.advance(60000);
  ws().open();
  assert.deepEqual(ws().decisions(), [], 'nothing re-sent');
  ws().receive({channel: 'group_decisions', payload: {me: 0.9, you: 0.2}, seq: 5});
  assert.equal(el.myDecision, 0.9);
  ws().receive({channel: 'group_decisions', payload: {me: 0.3, you: 0.2}, seq: 6});
  assert.equal(el.myDecision, 0.3, 'the server changed it and the page sent nothing since');
});

test('real socket: a decision queued while offline and lost with the next connection is sent again', () => {
  const {clock, el, ws} = page();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 1});
  ws().drop();
  el.myDecision = 0.7;  // queued, then written when the socket opens ...
  clock.advance(60000);
  ws().open();
  assert.deepEqual(ws().decisions(), [0.7]);
  ws().drop();          // ... into a connection that dies before the server read it
  clock.advance(60000);
  ws().open();
  assert.deepEqual(ws().decisions(), [0.7]);
});
