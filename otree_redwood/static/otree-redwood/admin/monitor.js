// The live monitor of a session (templates/otree_redwood/monitor.html).
//
// Listens on /redwood/events/session/<code>/ (admin_consumers.py): a snapshot
// of every group on connect, then each server process's report (about once a
// second: connections, round-trip times, messages per second) and the
// groups' server messages (state, group_decisions, ...).
import {DecisionChart, decisionNumber} from './chart.js';

const config = JSON.parse(document.getElementById('redwood-page-config').textContent);
const root = document.getElementById('rw-groups');
const statusEl = document.getElementById('rw-status');
const showAll = document.getElementById('rw-show-all');
const summaryEl = document.getElementById('rw-summary');

const groups = new Map();  // "app:pk" -> group record
let offset = 0;            // server clock - local clock, ms
let intervalMs = config.intervalMs || 1000;
let socket = null;
let retry = 0;
let reportsSeen = false;

function serverNow() { return Date.now() + offset; }

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function fmtValue(v) {
  if (v === undefined) return '–';
  const n = decisionNumber(v);
  if (typeof v === 'number' && n !== null) return String(Math.round(n * 1000) / 1000);
  const s = JSON.stringify(v);
  return s.length > 40 ? s.slice(0, 37) + '...' : s;
}

// a round trip as the page reported it: only a plausible figure is shown
function fmtRtt(ms) {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 && ms <= 600000 ? `${Math.round(ms)} ms` : '–';
}

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
  statusEl.className = 'badge ' + ({live: 'badge-success', connecting: 'badge-warning'}[state] || 'badge-danger');
}

// ---------------------------------------------------------------- groups

function makeGroup(info) {
  const key = `${info.app}:${info.group}`;
  const rows = new Map();
  const tbody = el('tbody');
  for (const m of info.members) {
    const tr = el('tr', {'data-code': m.code, class: 'rw-member'},
      el('td', {}, `P${m.id_in_group}`),
      el('td', {}, el('code', {}, m.code)),
      el('td', {class: 'rw-conn'}, '–'),
      el('td', {class: 'rw-rtt'}, '–'),
      el('td', {class: 'rw-decision'}, '–'));
    rows.set(m.code, tr);
    tbody.append(tr);
  }
  const chartBox = el('div', {class: 'rw-chart', 'data-points': '0'});
  const card = el('section', {class: 'rw-group card', 'data-app': info.app, 'data-group': String(info.group),
                              'data-connected': '', 'data-state': ''},
    el('div', {class: 'card-header'},
      el('strong', {}, `${info.app}`), ` · round ${info.round} · group ${info.id_in_subsession} `,
      el('small', {class: 'text-muted'}, `(pk ${info.group})`)),
    el('div', {class: 'card-body'},
      el('div', {class: 'rw-stats'},
        el('span', {}, 'Period: ', el('b', {class: 'rw-state'}, '–')),
        el('span', {}, 'Remaining: ', el('b', {class: 'rw-remaining'}, '–')),
        el('span', {}, 'Messages/s in: ', el('b', {class: 'rw-rate'}, '–')),
        el('span', {}, 'Connected: ', el('b', {class: 'rw-count'}, '0'), `/${info.members.length}`)),
      el('table', {class: 'table table-sm rw-members'},
        el('thead', {}, el('tr', {},
          el('th', {}, 'Player'), el('th', {}, 'Participant'), el('th', {}, 'Connection'),
          el('th', {}, 'Round trip'), el('th', {}, 'Decision'))),
        tbody),
      chartBox));
  const g = {
    key, info, card, rows, chartBox, chart: null,
    state: info.state, startMs: info.start_ms, endMs: info.end_ms,
    periodLength: info.period_length, seq: info.seq || 0,
    decisions: info.decisions || null,
    snapshotConnected: new Set(info.connected || []),
    procs: new Map(),  // process -> {connected:Set, rtt:{}, rate, t}
  };
  return g;
}

function ensureChart(g) {
  if (g.chart) return g.chart;
  g.chart = new DecisionChart(g.chartBox, g.info.members);
  if (g.startMs) g.chart.setPeriod(g.startMs, g.endMs);
  return g.chart;
}

function connectedOf(g) {
  if (g.procs.size) {
    const all = new Set();
    for (const p of g.procs.values()) p.connected.forEach(c => all.add(c));
    return all;
  }
  return reportsSeen ? new Set() : g.snapshotConnected;
}

// shown by default: groups whose period runs, or with someone connected
// (ended groups of earlier rounds are idle: "show idle groups" shows them)
function isActive(g) {
  return g.state === 'period_start' || connectedOf(g).size > 0;
}

function renderGroup(g) {
  const connected = connectedOf(g);
  const card = g.card;
  card.dataset.connected = [...connected].sort().join(' ');
  card.dataset.state = g.state || '';
  card.querySelector('.rw-count').textContent = String(connected.size);
  let rate = 0;
  const rtt = {};
  for (const p of g.procs.values()) {
    rate += p.rate || 0;
    Object.assign(rtt, p.rtt || {});
  }
  card.querySelector('.rw-rate').textContent = g.procs.size ? rate.toFixed(1) : '–';
  for (const [code, tr] of g.rows) {
    const on = connected.has(code);
    const conn = tr.querySelector('.rw-conn');
    conn.textContent = on ? 'connected' : 'not connected';
    conn.className = 'rw-conn ' + (on ? 'text-success' : 'text-muted');
    tr.dataset.connected = on ? '1' : '0';
    tr.querySelector('.rw-rtt').textContent = fmtRtt(rtt[code]);
    tr.querySelector('.rw-decision').textContent = g.decisions ? fmtValue(g.decisions[code]) : '–';
  }
  card.hidden = !(showAll.checked || isActive(g));
  renderClock(g);
}

function renderClock(g) {
  const stateEl = g.card.querySelector('.rw-state');
  const remEl = g.card.querySelector('.rw-remaining');
  if (g.state === 'period_start') {
    stateEl.textContent = 'running';
    if (g.endMs) {
      const left = Math.max(0, g.endMs - serverNow()) / 1000;
      remEl.textContent = `${left.toFixed(1)} s`;
      g.card.dataset.remaining = left.toFixed(1);
    } else {
      remEl.textContent = 'no end';
    }
  } else if (g.state === 'period_end') {
    stateEl.textContent = 'ended';
    remEl.textContent = '0 s';
  } else {
    stateEl.textContent = g.state ? String(g.state) : 'not started';
    remEl.textContent = '–';
  }
}

function renderSummary() {
  let shown = 0, active = 0, conn = 0;
  for (const g of groups.values()) {
    if (!g.card.hidden) shown++;
    if (isActive(g)) active++;
    conn += connectedOf(g).size;
  }
  summaryEl.textContent = `${groups.size} groups, ${active} active, ${conn} participants connected` +
    (shown < groups.size ? ` (${groups.size - shown} idle groups hidden)` : '');
}

// ---------------------------------------------------------------- messages

function onSnapshot(snap) {
  offset = snap.server_ts - Date.now();
  intervalMs = snap.interval_ms || intervalMs;
  reportsSeen = false;
  for (const g of groups.values()) if (g.chart) g.chart.destroy();
  groups.clear();
  root.textContent = '';
  for (const info of snap.groups) {
    let g;
    try {
      g = makeGroup(info);
      groups.set(g.key, g);
      root.append(g.card);
      if (g.startMs || (info.history && info.history.length)) {
        const chart = ensureChart(g);
        for (const [t, , map] of info.history || []) chart.push(t, map);
      }
      renderGroup(g);
    } catch (err) {
      // a group whose stored data cannot be drawn: the others still are
      console.error('redwood monitor: group not shown', info && info.group, err);
    }
  }
  renderSummary();
}

function onReport(rep) {
  reportsSeen = true;
  const now = Date.now();
  if (typeof rep.ts === 'number') {
    // the report left the server at rep.ts; keep the smallest estimate of the offset
    const est = rep.ts - now;
    if (Math.abs(est - offset) > 2000) offset = est;
  }
  const seen = new Set();
  for (const [key, r] of Object.entries(rep.groups || {})) {
    const g = groups.get(key);
    if (!g) continue;
    seen.add(key);
    g.procs.set(rep.process, {connected: new Set(r.connected || []), rtt: r.rtt_ms || {}, rate: r.in_per_s || 0, t: now});
  }
  // a process that no longer reports a group has no socket of it
  for (const [key, g] of groups) {
    if (!seen.has(key) && g.procs.delete(rep.process)) renderGroup(g);
  }
  for (const key of seen) renderGroup(groups.get(key));
  renderSummary();
}

function onFrame(msg) {
  const g = groups.get(`${msg.app}:${msg.group}`);
  if (!g) return;
  const f = msg.frame;
  if (typeof f.seq === 'number') {
    if (f.seq <= g.seq) return;  // already in the snapshot
    g.seq = f.seq;
  }
  if (msg.recipient) return;  // a private message: not part of the group's picture
  if (f.channel === 'state') {
    g.state = f.payload;
    if (f.payload === 'period_start') {
      g.startMs = f.ts;
      g.endMs = g.periodLength ? f.ts + g.periodLength * 1000 : null;
      ensureChart(g).clear();
      g.chart.setPeriod(g.startMs, g.endMs);
    } else if (f.payload === 'period_end') {
      g.endMs = f.ts;
      if (g.chart) g.chart.setPeriod(g.startMs, g.endMs);
    }
    renderGroup(g);
    renderSummary();
  } else if (f.channel === 'group_decisions') {
    g.decisions = f.payload;
    ensureChart(g).push(f.ts, f.payload);
    renderGroup(g);
  }
}

// ---------------------------------------------------------------- socket

function connect() {
  const proto = location.protocol === 'https:' ? 'wss://' : 'ws://';
  socket = new WebSocket(proto + location.host + config.socketPath);
  setStatus('connecting', 'connecting…');
  socket.onopen = () => { retry = 0; setStatus('live', 'live'); };
  socket.onmessage = (ev) => {
    // one message that cannot be read or shown must not stop the next ones
    try {
      const msg = JSON.parse(ev.data);
      if (msg.type === 'snapshot') onSnapshot(msg);
      else if (msg.type === 'report') onReport(msg);
      else if (msg.type === 'frame') onFrame(msg);
      else if (msg.type === 'error') setStatus('refused', `refused: ${msg.reason}`);
    } catch (err) {
      console.error('redwood monitor: message not shown', err);
    }
  };
  socket.onclose = (ev) => {
    if (ev.code === 4003 || ev.code === 4004) {
      setStatus('refused', ev.code === 4003 ? 'refused: log in as the admin' : 'no such session');
      return;
    }
    setStatus('closed', 'disconnected; reconnecting…');
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 250 * 2 ** retry);
  };
}

// clocks, and processes that stopped reporting (died, or lost their last socket)
setInterval(() => {
  const now = Date.now();
  for (const g of groups.values()) {
    let changed = false;
    for (const [proc, p] of g.procs) {
      if (now - p.t > 3 * intervalMs + 500) { g.procs.delete(proc); changed = true; }
    }
    if (changed) renderGroup(g);
    else renderClock(g);
  }
}, 250);

showAll.addEventListener('change', () => {
  for (const g of groups.values()) renderGroup(g);
  renderSummary();
});

connect();
