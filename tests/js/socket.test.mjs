import {test} from 'node:test';
import assert from 'node:assert/strict';
import {RedwoodSocket, socketUrl, NO_RETRY_CODES}
  from '../../otree_redwood/static/otree-redwood/src/lib/socket.js';
import {Backoff} from '../../otree_redwood/static/otree-redwood/src/lib/backoff.js';
import {FakeClock} from './fake-clock.mjs';

class FakeWS {
  static instances = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    FakeWS.instances.push(this);
  }
  send(text) {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    this.sent.push(JSON.parse(text));
  }
  close(code) { this.closedWith = code; this.readyState = 3; }
  // test helpers
  open() { this.readyState = 1; this.onopen && this.onopen({}); }
  receive(obj) { this.onmessage && this.onmessage({data: JSON.stringify(obj)}); }
  drop(code = 1006) { this.readyState = 3; this.onclose && this.onclose({code}); }
  userSent() { return this.sent.filter((m) => m.channel !== 'ping'); }
}

function setup(opts = {}) {
  FakeWS.instances = [];
  const clock = new FakeClock();
  const sock = new RedwoodSocket({
    url: (seq) => 'ws://h/x/' + (seq === null ? '' : '?seq=' + seq),
    WebSocket: FakeWS,
    now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
    backoff: new Backoff({jitter: 0}),
    ...opts,
  });
  const messages = [];
  sock.on('message', (m) => messages.push(m));
  return {clock, sock, messages, ws: () => FakeWS.instances[FakeWS.instances.length - 1]};
}

test('socketUrl builds the documented URL', () => {
  assert.equal(
    socketUrl({protocol: 'https:', host: 'lab:8000', appName: 'cournot', groupPk: 12,
               participantCode: 'ab12', token: 't/k', seq: null}),
    'wss://lab:8000/redwood/app-name/cournot/group/12/participant/ab12/?token=t%2Fk');
  assert.equal(
    socketUrl({protocol: 'http:', host: 'h', appName: 'a', groupPk: 1, participantCode: 'p',
               token: 'x', seq: 41}),
    'ws://h/redwood/app-name/a/group/1/participant/p/?token=x&seq=41');
});

test('sends made before open are queued and sent once on open', () => {
  const {sock, ws} = setup();
  sock.start();
  assert.equal(sock.send('decisions', 0.1), 'queued');
  assert.equal(sock.send('chat', 'hi'), 'queued');
  ws().open();
  assert.deepEqual(ws().userSent(), [{channel: 'decisions', payload: 0.1}, {channel: 'chat', payload: 'hi'}]);
  assert.equal(sock.send('chat', 'now'), 'sent');
  assert.equal(ws().userSent().length, 3);
});

test('replace keeps only the latest queued message of a channel', () => {
  const {sock, ws} = setup();
  sock.start();
  sock.send('decisions', 1, {replace: true});
  sock.send('chat', 'a');
  sock.send('decisions', 2, {replace: true});
  ws().open();
  assert.deepEqual(ws().userSent(), [{channel: 'chat', payload: 'a'}, {channel: 'decisions', payload: 2}]);
});

test('after a reconnect only messages queued while offline are sent, never old ones', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  ws().open();
  sock.send('decisions', 'sent-before');
  const first = ws();
  first.drop(1006);
  assert.equal(sock.status, 'waiting');
  sock.send('decisions', 'while-offline');
  clock.advance(500);
  const second = ws();
  assert.notEqual(second, first);
  second.open();
  assert.deepEqual(second.userSent(), [{channel: 'decisions', payload: 'while-offline'}]);
  second.drop(1006);
  clock.advance(1000);
  ws().open();
  assert.deepEqual(ws().userSent(), [], 'nothing re-sent on the third connection');
});

test('reconnect uses backoff and resumes from the highest seq', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  ws().open();
  ws().receive({channel: 'state', payload: 'period_start', seq: 3, ts: 1});
  ws().receive({channel: 'tick', payload: 1, seq: 7, ts: 1});
  ws().receive({channel: 'tick', payload: 0, seq: 5, ts: 1});
  assert.equal(sock.lastSeq, 7);
  ws().drop(1006);
  const n = FakeWS.instances.length;
  clock.advance(499);
  assert.equal(FakeWS.instances.length, n, 'waits the backoff delay');
  clock.advance(1);
  assert.equal(FakeWS.instances.length, n + 1);
  assert.equal(ws().url, 'ws://h/x/?seq=7');
  ws().drop(1006);                 // fails again: the delay doubles
  clock.advance(999);
  assert.equal(FakeWS.instances.length, n + 1);
  clock.advance(1);
  assert.equal(FakeWS.instances.length, n + 2);
});

test('close codes 4000/4003/4004 are final', () => {
  for (const code of NO_RETRY_CODES) {
    const {clock, sock, ws} = setup();
    sock.start();
    ws().open();
    ws().receive({channel: 'error', payload: {reason: 'forbidden'}});
    ws().drop(code);
    clock.advance(60000);
    assert.equal(FakeWS.instances.length, 1, `no retry after ${code}`);
    assert.equal(sock.status, 'failed');
    assert.equal(sock.closeCode, code);
    assert.deepEqual(sock.lastError, {reason: 'forbidden'});
  }
});

test('duplicates and stale group_decisions are not delivered; errors are', () => {
  const {sock, ws, messages} = setup();
  sock.start();
  ws().open();
  ws().receive({channel: 'group_decisions', payload: {a: 1}, seq: 10, ts: 1});
  ws().receive({channel: 'group_decisions', payload: {a: 1}, seq: 10, ts: 1});
  ws().receive({channel: 'group_decisions', payload: {a: 0}, seq: 9, ts: 1});
  ws().receive({channel: 'error', payload: {reason: 'bad'}});
  ws().receive({channel: 'group_decisions', payload: {a: 2}, seq: 11, ts: 1});
  assert.deepEqual(messages.map((m) => [m.channel, m.seq]),
                   [['group_decisions', 10], ['error', undefined], ['group_decisions', 11]]);
  assert.deepEqual(sock.latest.get('group_decisions').payload, {a: 2});
});

test('garbage frames are ignored without throwing', () => {
  const {sock, ws, messages} = setup();
  sock.start();
  ws().open();
  ws().onmessage({data: 'not json'});
  ws().onmessage({data: '42'});
  ws().receive({payload: 1});
  assert.equal(messages.length, 0);
  assert.equal(sock.connected, true);
});

test('pings carry both avg field spellings; replies feed rtt and offset, not listeners', () => {
  const {clock, sock, ws, messages} = setup();
  const pings = [];
  sock.on('ping', (p) => pings.push(p));
  sock.start();
  ws().open();
  const ping = ws().sent.find((m) => m.channel === 'ping');
  assert.ok(ping, 'a ping is sent on open');
  assert.equal(ping.timestamp, clock.t);
  assert.ok('avg_ping_time' in ping && 'avgping_time' in ping);
  clock.advance(40);
  ws().receive({channel: 'ping', timestamp: ping.timestamp, server_ts: ping.timestamp + 20 + 5000});
  assert.equal(sock.rttMs, 40);
  assert.equal(sock.clockOffsetMs, 5000);
  assert.equal(pings.length, 1);
  assert.equal(messages.length, 0);
  clock.advance(5000);
  const pings2 = ws().sent.filter((m) => m.channel === 'ping');
  assert.equal(pings2.length, 2, 'pings repeat every 5 s');
  assert.equal(pings2[1].avg_ping_time, 40);
});

test('a silent connection is replaced', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  const first = ws();
  first.open();
  clock.advance(30000);     // no replies at all
  assert.equal(first.closedWith, 1000);
  assert.ok(FakeWS.instances.length >= 2, 'reconnected');
  assert.match(ws().url, /^ws:\/\/h\/x\//);
});

test('backoff resets only after a connection stayed up', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  ws().drop(1006);  clock.advance(500);
  ws().drop(1006);  clock.advance(1000);
  ws().drop(1006);  clock.advance(2000);
  ws().open();                           // opens, but flaps at once
  ws().drop(1011);
  clock.advance(3999);
  assert.equal(sock.status, 'waiting', 'no reset: still at the 4 s step');
  clock.advance(1);
  ws().open();
  for (let i = 0; i < 2; i++) {          // healthy for 10 s (answers pings)
    const p = ws().sent.filter((m) => m.channel === 'ping').pop();
    ws().receive({channel: 'ping', timestamp: p.timestamp, server_ts: p.timestamp});
    clock.advance(5000);
  }
  ws().drop(1006);
  const n = FakeWS.instances.length;
  clock.advance(500);
  assert.equal(FakeWS.instances.length, n + 1, 'back to the initial 0.5 s delay');
});

test('stop closes and does not reconnect', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  ws().open();
  sock.stop();
  clock.advance(60000);
  assert.equal(FakeWS.instances.length, 1);
  assert.equal(sock.connected, false);
  sock.resume();
  assert.equal(FakeWS.instances.length, 2);
});

test('invalid channel names are refused', () => {
  const {sock} = setup();
  assert.throws(() => sock.send('bad channel', 1), TypeError);
  assert.throws(() => sock.send('', 1), TypeError);
});

test('an unconfirmed latest-wins message is sent again after a reconnect, once', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  const first = ws();
  first.open();
  assert.equal(sock.send('decisions', 0.7, {replace: true}), 'sent');
  sock.send('chat', 'not latest-wins');
  // the connection dies before any ping sent after the decision was answered
  first.drop(1006);
  clock.advance(500);
  const second = ws();
  second.open();
  assert.deepEqual(second.userSent(), [{channel: 'decisions', payload: 0.7}]);
  // the ping sent on open follows the re-sent decision: its reply confirms it
  const ping = second.sent.filter((m) => m.channel === 'ping').pop();
  second.receive({channel: 'ping', timestamp: ping.timestamp, server_ts: ping.timestamp});
  second.drop(1006);
  clock.advance(1000);
  ws().open();
  assert.deepEqual(ws().userSent(), [], 'confirmed: not sent a third time');
});

test('a ping answered after a send confirms it; one answered before does not', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  const first = ws();
  first.open();
  const early = first.sent.find((m) => m.channel === 'ping');
  sock.send('decisions', 1, {replace: true});
  first.receive({channel: 'ping', timestamp: early.timestamp, server_ts: early.timestamp});
  first.drop(1006);
  clock.advance(500);
  ws().open();
  assert.deepEqual(ws().userSent(), [{channel: 'decisions', payload: 1}], 'the early ping proved nothing');

  const second = ws();
  sock.send('decisions', 2, {replace: true});
  clock.advance(5000);  // the next ping goes out after the send
  const later = second.sent.filter((m) => m.channel === 'ping').pop();
  second.receive({channel: 'ping', timestamp: later.timestamp, server_ts: later.timestamp});
  second.drop(1006);
  clock.advance(1000);
  ws().open();
  assert.deepEqual(ws().userSent(), []);
});

test('a latest-wins message queued while offline replaces the unconfirmed one', () => {
  const {clock, sock, ws} = setup();
  sock.start();
  ws().open();
  sock.send('decisions', 'before-loss', {replace: true});
  ws().drop(1006);
  sock.send('decisions', 'while-offline', {replace: true});
  clock.advance(500);
  ws().open();
  assert.deepEqual(ws().userSent(), [{channel: 'decisions', payload: 'while-offline'}]);
});
