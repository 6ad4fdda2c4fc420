/**
 * <redwood-debug session="<session code>">: a session's stored events, per
 * group, with a replay at the original pace.
 *
 * Loads `/redwood/api/events/session/<code>/` (JSON
 * {app_name: {group_pk: [{timestamp, group, participant, channel, value}]}})
 * and shows a table of the chosen group's events.  Play / Pause / Step /
 * Restart walk through them; the panel above the table shows the state and
 * the latest group_decisions at the replay cursor.
 *
 * Properties: session (string; remembered in localStorage and reloaded,
 * as in 0.9.x), apiUrl (optional override of the URL), speed (replay speed
 * factor, default 1), loaded (fires loaded-changed), and 0.9.x's
 * eventsByAppNameThenGroup (the JSON), apps, groups, app, group (the
 * selected ones), events (the selected group's), loading, playing, paused,
 * elapsedTime (ms since the first event, at the replay cursor).
 * 0.9.x drew a Highcharts chart (it needed Highcharts and jQuery on the page)
 * and tried to feed the replay into the page's socket, which failed; this
 * one shows a table and needs nothing else.
 * Events: replay-event (detail = the event reached by the replay cursor).
 */
import {PropertiesMixin} from '../lib/element.js';

const STORAGE_KEY = 'redwood-debug:session';  // 0.9.x's key

const STYLE = `
:host { display: block; font: 13px/1.4 sans-serif; }
.bar { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin: .5em 0; }
.state { background: #f6f6f6; border: 1px solid #ddd; padding: .4em .6em; margin-bottom: .5em;
         white-space: pre-wrap; font-family: monospace; max-height: 10em; overflow: auto; }
.scroll { max-height: 60vh; overflow: auto; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 2px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
th { position: sticky; top: 0; background: #fafafa; }
td.value { font-family: monospace; word-break: break-all; }
tr.played { color: #222; } tr.future { color: #999; }
tr.current { background: #fff3bf; }
.error { color: #b00; }
`;

export class RedwoodDebug extends PropertiesMixin(HTMLElement) {
  static get properties() {
    return {
      session: {type: 'string', observer: '_load'},
      apiUrl: {type: 'string', observer: '_load'},
      speed: {type: 'number', value: 1},
      loaded: {type: 'boolean', value: false, attribute: false},
      eventsByAppNameThenGroup: {type: 'json', attribute: false},
      apps: {type: 'json', value: () => [], attribute: false},
      groups: {type: 'json', value: () => [], attribute: false},
      app: {type: 'string', attribute: false},
      group: {type: 'string', attribute: false},
      events: {type: 'json', value: () => [], attribute: false},
      loading: {type: 'boolean', value: false, attribute: false},
      playing: {type: 'boolean', value: false, attribute: false},
      paused: {type: 'boolean', value: false, attribute: false},
      elapsedTime: {type: 'number', value: 0, attribute: false},
    };
  }

  constructor() {
    super();
    this._data = {};
    this._events = [];
    this._cursor = -1;
    this._timer = null;
  }

  connectedCallback() {
    if (!this.shadowRoot) this._render();
    if (!this.session && !this.apiUrl) {
      let remembered = null;
      try { remembered = window.localStorage.getItem(STORAGE_KEY); } catch (e) { /* storage disabled */ }
      if (remembered) { this.session = remembered; return; }  // the observer loads it
    }
    if (!this.loaded) this._load();
  }

  disconnectedCallback() {
    this.pause();
  }

  _render() {
    const root = this.attachShadow({mode: 'open'});
    root.innerHTML = `<style>${STYLE}</style>
      <div class="bar">
        <label>Group <select id="group"></select></label>
        <button id="play" type="button">Play</button>
        <button id="pause" type="button">Pause</button>
        <button id="step" type="button">Step</button>
        <button id="restart" type="button">Restart</button>
        <label>Speed <select id="speed">
          <option value="1">1×</option><option value="2">2×</option>
          <option value="5">5×</option><option value="10">10×</option></select></label>
        <span id="status"></span>
      </div>
      <div class="state" id="state"></div>
      <div class="scroll"><table><thead><tr><th>#</th><th>t (s)</th><th>participant</th>
        <th>channel</th><th>value</th></tr></thead><tbody id="rows"></tbody></table></div>`;
    const $ = (id) => root.getElementById(id);
    $('play').addEventListener('click', () => this.play());
    $('pause').addEventListener('click', () => this.pause());
    $('step').addEventListener('click', () => { this.pause(); this.step(); });
    $('restart').addEventListener('click', () => { this.pause(); this._seek(-1); });
    $('group').addEventListener('change', (e) => this._selectGroup(e.target.value));
    $('speed').addEventListener('change', (e) => { this.speed = Number(e.target.value); });
  }

  _url() {
    if (this.apiUrl) return this.apiUrl;
    if (!this.session) return null;
    return `/redwood/api/events/session/${encodeURIComponent(this.session)}/`;
  }

  async _load() {
    const url = this._url();
    if (!url || !this.shadowRoot) return;
    this.pause();
    this._status('loading…');
    this.loading = true;
    try {
      const res = await fetch(url, {credentials: 'same-origin', headers: {Accept: 'application/json'}});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this._data = await res.json();
    } catch (e) {
      this._status(`cannot load events: ${e.message}`, true);
      return;
    } finally {
      this.loading = false;
    }
    if (this.session) {
      try { window.localStorage.setItem(STORAGE_KEY, this.session); } catch (e) { /* storage disabled */ }
    }
    this.eventsByAppNameThenGroup = this._data;
    this.apps = Object.keys(this._data || {});
    this.groups = [].concat(...this.apps.map((a) => Object.keys(this._data[a] || {})));
    const select = this.shadowRoot.getElementById('group');
    select.textContent = '';
    const keys = [];
    for (const [app, groups] of Object.entries(this._data || {})) {
      for (const [pk, events] of Object.entries(groups || {})) {
        const key = JSON.stringify([app, pk]);
        keys.push(key);
        const opt = document.createElement('option');
        opt.value = key;
        opt.textContent = `${app} / group ${pk} (${(events || []).length} events)`;
        select.appendChild(opt);
      }
    }
    this.loaded = true;
    if (keys.length === 0) {
      this._events = [];
      this._status('no events in this session');
      this._fillRows();
      return;
    }
    this._selectGroup(keys[0]);
  }

  _selectGroup(key) {
    this.pause();
    const [app, pk] = JSON.parse(key);
    const events = ((this._data[app] || {})[pk] || []).slice();
    events.sort((a, b) => a.timestamp - b.timestamp);
    this._events = events;
    this.app = app;
    this.group = pk;
    this.events = events;
    this._fillRows();
    this._seek(-1);
  }

  _fillRows() {
    const tbody = this.shadowRoot.getElementById('rows');
    tbody.textContent = '';
    const t0 = this._events.length ? this._events[0].timestamp : 0;
    this._rows = this._events.map((ev, i) => {
      const tr = document.createElement('tr');
      const cells = [i + 1, ((ev.timestamp - t0) / 1000).toFixed(3),
                     ev.participant === null || ev.participant === undefined ? '(server)' : ev.participant,
                     ev.channel, JSON.stringify(ev.value)];
      cells.forEach((text, c) => {
        const td = document.createElement('td');
        td.textContent = String(text);
        if (c === 4) td.className = 'value';
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
      return tr;
    });
  }

  _seek(index) {
    const prev = this._cursor;
    this._cursor = index;
    const rows = this._rows || [];
    rows.forEach((tr, i) => {
      tr.className = i < index ? 'played' : i === index ? 'current' : 'future';
    });
    this.elapsedTime = index >= 0 && this._events[index] ? this._events[index].timestamp - this._events[0].timestamp : 0;
    if (index >= 0 && rows[index]) {
      rows[index].scrollIntoView({block: 'nearest'});
      if (index !== prev) this._fire('replay-event', this._events[index]);
    }
    this._showState();
    this._status(`${Math.max(0, index + 1)} / ${this._events.length}` + (this._timer ? ' — playing' : ''));
  }

  _showState() {
    let state = '—';
    let decisions = null;
    for (let i = 0; i <= this._cursor && i < this._events.length; i++) {
      const ev = this._events[i];
      if (ev.channel === 'state') state = ev.value;
      if (ev.channel === 'group_decisions') decisions = ev.value;
    }
    this.shadowRoot.getElementById('state').textContent =
      `state: ${JSON.stringify(state)}\ngroup_decisions: ${JSON.stringify(decisions, null, 1)}`;
  }

  _status(text, isError = false) {
    const el = this.shadowRoot && this.shadowRoot.getElementById('status');
    if (!el) return;
    el.textContent = text;
    el.className = isError ? 'error' : '';
  }

  /** Advance the cursor by one event; false at the end. */
  step() {
    if (this._cursor + 1 >= this._events.length) return false;
    this._seek(this._cursor + 1);
    return true;
  }

  play() {
    if (this._timer || !this._events.length) return;
    if (this._cursor + 1 >= this._events.length) this._seek(-1);
    const tick = () => {
      if (!this.step()) { this.pause(); return; }
      const next = this._events[this._cursor + 1];
      if (!next) { this.pause(); return; }
      const gap = Math.max(0, next.timestamp - this._events[this._cursor].timestamp);
      this._timer = setTimeout(tick, gap / (Number(this.speed) > 0 ? Number(this.speed) : 1));
    };
    this._timer = setTimeout(tick, 0);
    this.playing = true;
    this.paused = false;
    this._status(`${Math.max(0, this._cursor + 1)} / ${this._events.length} — playing`);
  }

  pause() {
    if (this._timer) {
      clearTimeout(this._timer);
      this.paused = true;
    }
    this._timer = null;
    if (this._cursor + 1 >= this._events.length) this.playing = this.paused = false;
    if (this.shadowRoot) this._status(`${Math.max(0, this._cursor + 1)} / ${this._events.length}`);
  }
}

if (!customElements.get('redwood-debug')) customElements.define('redwood-debug', RedwoodDebug);
