// Replay of a stored session (templates/otree_redwood/debug.html).
//
// Loads every event from /redwood/api/events/session/<code>/ and plays one
// group's events back at their original pace (or faster): the period state,
// the decisions table, the event log and the same chart as the monitor.
import {DecisionChart, decisionNumber} from './chart.js';

const config = JSON.parse(document.getElementById('redwood-page-config').textContent);
const select = document.getElementById('rw-group-select');
const playBtn = document.getElementById('rw-play');
const stepBtn = document.getElementById('rw-step');
const resetBtn = document.getElementById('rw-reset');
const speedSel = document.getElementById('rw-speed');
const replayEl = document.getElementById('rw-replay');
const clockEl = document.getElementById('rw-clock');
const stateEl = document.getElementById('rw-state');
const logEl = document.getElementById('rw-log');
const membersEl = document.getElementById('rw-members');
const chartBox = document.getElementById('rw-chart');
const statusEl = document.getElementById('rw-status');

const LOG_LINES = 200;
let data = null;
let current = null;  // {info, events, i, vt, t0, chart, decisions, last}
let playing = false;
let wallStart = 0;
let vtStart = 0;

function fmt(v) {
  const s = JSON.stringify(v);
  return s === undefined ? '' : (s.length > 120 ? s.slice(0, 117) + '...' : s);
}

function td(text, cls) {
  const e = document.createElement('td');
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function groupEvents(info) {
  const byGroup = (data && data[info.app]) || {};
  return byGroup[String(info.group)] || [];
}

function buildSelect() {
  select.textContent = '';
  let firstWithEvents = null;
  config.groups.forEach((info, idx) => {
    const n = groupEvents(info).length;
    const opt = document.createElement('option');
    opt.value = String(idx);
    opt.textContent = `${info.app} · round ${info.round} · group ${info.id_in_subsession} (pk ${info.group}) · ${n} events`;
    opt.disabled = n === 0;
    select.append(opt);
    if (n && firstWithEvents === null) firstWithEvents = idx;
  });
  if (firstWithEvents !== null) {
    select.value = String(firstWithEvents);
    load(config.groups[firstWithEvents]);
  } else {
    statusEl.textContent = 'This session has no stored events yet.';
  }
}

function load(info) {
  pause();
  if (current && current.chart) current.chart.destroy();
  chartBox.textContent = '';
  const events = groupEvents(info);
  const start = events.find(e => e.channel === 'state' && e.value === 'period_start');
  current = {
    info, events, i: 0,
    t0: start ? start.timestamp : (events.length ? events[0].timestamp : 0),
    vt: events.length ? events[0].timestamp : 0,
    chart: new DecisionChart(chartBox, info.members),
    decisions: {}, last: {},
  };
  membersEl.textContent = '';
  for (const m of info.members) {
    const tr = document.createElement('tr');
    tr.dataset.code = m.code;
    tr.append(td(`P${m.id_in_group}`), td(m.code), td('–', 'rw-last'), td('–', 'rw-decision'));
    membersEl.append(tr);
  }
  stateEl.textContent = 'not started';
  logEl.textContent = '';
  render();
}

function setPeriod(ev) {
  const c = current;
  if (ev.value === 'period_start') {
    const length = c.info.period_length;
    c.chart.setPeriod(ev.timestamp, length ? ev.timestamp + length * 1000 : null);
  } else if (ev.value === 'period_end') {
    c.chart.setPeriod(c.t0, ev.timestamp);
  }
}

function apply(ev) {
  const c = current;
  if (ev.channel === 'state') {
    stateEl.textContent = ev.value === 'period_start' ? 'running' : ev.value === 'period_end' ? 'ended' : fmt(ev.value);
    setPeriod(ev);
  } else if (ev.channel === 'group_decisions' && ev.value && typeof ev.value === 'object') {
    c.decisions = ev.value;
    c.chart.push(ev.timestamp, ev.value);
  } else if (ev.participant) {
    c.last[ev.participant] = `${ev.channel}: ${fmt(ev.value)}`;
  }
  const tr = document.createElement('tr');
  tr.append(
    td(((ev.timestamp - c.t0) / 1000).toFixed(3)),
    td(ev.participant || 'server'),
    td(ev.channel),
    td(fmt(ev.value)));
  logEl.prepend(tr);
  while (logEl.childElementCount > LOG_LINES) logEl.lastElementChild.remove();
}

function render() {
  const c = current;
  if (!c) return;
  replayEl.dataset.index = String(c.i);
  replayEl.dataset.total = String(c.events.length);
  replayEl.dataset.playing = playing ? '1' : '0';
  clockEl.textContent = `t = ${((c.vt - c.t0) / 1000).toFixed(1)} s · event ${c.i} of ${c.events.length}`;
  c.chart.setNow(c.i ? c.vt : null);
  for (const tr of membersEl.children) {
    const code = tr.dataset.code;
    tr.querySelector('.rw-last').textContent = c.last[code] || '–';
    const v = c.decisions[code];
    const n = decisionNumber(v);
    tr.querySelector('.rw-decision').textContent = v === undefined ? '–' : (typeof v === 'number' && n !== null ? String(n) : fmt(v));
  }
  playBtn.textContent = playing ? 'Pause' : 'Play';
  stepBtn.disabled = playing || c.i >= c.events.length;
}

function frame() {
  if (!playing) return;
  const c = current;
  const speed = Number(speedSel.value) || 1;
  c.vt = vtStart + (performance.now() - wallStart) * speed;
  while (c.i < c.events.length && c.events[c.i].timestamp <= c.vt) apply(c.events[c.i++]);
  if (c.i >= c.events.length) {
    c.vt = c.events.length ? c.events[c.events.length - 1].timestamp : c.vt;
    playing = false;
  }
  render();
  if (playing) requestAnimationFrame(frame);
}

function play() {
  const c = current;
  if (!c || !c.events.length) return;
  if (c.i >= c.events.length) reset();
  playing = true;
  wallStart = performance.now();
  vtStart = c.vt;
  requestAnimationFrame(frame);
  render();
}

function pause() {
  playing = false;
  if (current) render();
}

function step() {
  const c = current;
  if (!c || c.i >= c.events.length) return;
  pause();
  const ev = c.events[c.i++];
  c.vt = ev.timestamp;
  apply(ev);
  render();
}

function reset() {
  if (current) load(current.info);
}

playBtn.addEventListener('click', () => (playing ? pause() : play()));
stepBtn.addEventListener('click', step);
resetBtn.addEventListener('click', reset);
select.addEventListener('change', () => load(config.groups[Number(select.value)]));
speedSel.addEventListener('change', () => {
  if (playing && current) { wallStart = performance.now(); vtStart = current.vt; }
});

statusEl.textContent = 'loading events…';
fetch(config.apiUrl, {credentials: 'same-origin'})
  .then(r => {
    if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
    return r.json();
  })
  .then(json => {
    data = json;
    let n = 0;
    for (const byGroup of Object.values(data)) for (const evs of Object.values(byGroup)) n += evs.length;
    statusEl.textContent = `${n} events loaded`;
    statusEl.dataset.loaded = String(n);
    buildSelect();
  })
  .catch(err => { statusEl.textContent = `could not load the events: ${err.message}`; });
