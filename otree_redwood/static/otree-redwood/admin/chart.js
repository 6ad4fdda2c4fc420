// A chart of a group's decisions over time, shared by the live monitor and
// the replay page.  One line per member, stepped (a decision holds until the
// next one).  Built on uPlot, vendored by scripts/vendor_chart.sh.
//
// The container gets data-points (points held now) and data-total (maps
// pushed since the last clear), which tests and curious admins can read.
import uPlot from '../vendor/uplot/uPlot.esm.js';

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b',
                 '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

// A decision as a number to plot: numbers as they are, booleans as 0/1,
// numeric strings, else the first number found in an array or object
// (e.g. {"x": 0.3, ...}); null when there is none.
export function decisionNumber(value) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const n = Number(value);
    return value.trim() !== '' && Number.isFinite(n) ? n : null;
  }
  if (value && typeof value === 'object') {
    for (const item of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof item === 'number' && Number.isFinite(item)) return item;
    }
  }
  return null;
}

export class DecisionChart {
  // members: [{code, id_in_group}] in the order of the lines
  constructor(container, members, options = {}) {
    this.container = container;
    this.maxPoints = options.maxPoints || 20000;
    this.height = options.height || 220;
    this.codes = [];
    this.labels = [];
    this.xs = [];
    this.ys = [];
    this.total = 0;
    this.range = null;  // [start s, end s] of the period, when known
    this.nowMark = null;
    this.pendingDraw = false;
    for (const m of members) this._addMember(m.code, m.id_in_group);
    this._build();
    if (typeof ResizeObserver !== 'undefined') {
      this.resizer = new ResizeObserver(() => this._fit());
      this.resizer.observe(container);
    }
    this._mark();
  }

  _addMember(code, idInGroup) {
    this.codes.push(code);
    this.labels.push(idInGroup ? `P${idInGroup} ${code}` : code);
    this.ys.push(this.xs.map(() => null));
  }

  _width() {
    return Math.max(300, (this.container.clientWidth || 600) - 4);
  }

  _build() {
    if (this.plot) this.plot.destroy();
    const stepped = uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({align: 1}) : undefined;
    const series = [{label: 'time'}];
    this.codes.forEach((code, i) => {
      series.push({
        label: this.labels[i],
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        paths: stepped,
        spanGaps: true,
        points: {show: false},
      });
    });
    const chart = this;
    const opts = {
      width: this._width(),
      height: this.height,
      scales: {
        x: {
          time: true,
          range: (u, min, max) => {
            if (chart.range) {
              const lo = chart.range[0];
              const hi = Math.max(chart.range[1] || max, max, lo + 1);
              return [lo, hi];
            }
            return min === max ? [min - 1, max + 1] : [min, max];
          },
        },
        y: {range: (u, min, max) => (min === max || min == null ? [(min || 0) - 1, (max || 0) + 1] : [min, max])},
      },
      series,
      legend: {live: false},
      hooks: {
        draw: [u => {
          if (chart.nowMark == null) return;
          const x = u.valToPos(chart.nowMark, 'x', true);
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = 'rgba(0,0,0,0.35)';
          ctx.setLineDash([4, 4]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        }],
      },
    };
    this.plot = new uPlot(opts, [this.xs, ...this.ys], this.container);
  }

  _fit() {
    if (this.plot) this.plot.setSize({width: this._width(), height: this.height});
  }

  _mark() {
    this.container.dataset.points = String(this.xs.length);
    this.container.dataset.total = String(this.total);
  }

  _redraw() {
    if (this.pendingDraw) return;
    this.pendingDraw = true;
    const draw = () => {
      this.pendingDraw = false;
      this.plot.setData([this.xs, ...this.ys]);
    };
    if (typeof requestAnimationFrame === 'function' && !document.hidden) requestAnimationFrame(draw);
    else setTimeout(draw, 50);
  }

  // A group_decisions map at time tMs (ms since the epoch).
  push(tMs, map) {
    if (!map || typeof map !== 'object') return;
    let rebuilt = false;
    for (const code of Object.keys(map)) {
      if (!this.codes.includes(code)) {
        this._addMember(code, null);
        rebuilt = true;
      }
    }
    let t = tMs / 1000;
    const last = this.xs.length ? this.xs[this.xs.length - 1] : null;
    if (last !== null && t < last) t = last;  // frames of two processes may cross
    this.xs.push(t);
    this.codes.forEach((code, i) => {
      this.ys[i].push(code in map ? decisionNumber(map[code]) : null);
    });
    if (this.xs.length > this.maxPoints) {
      const drop = this.xs.length - this.maxPoints;
      this.xs.splice(0, drop);
      this.ys.forEach(y => y.splice(0, drop));
    }
    this.total += 1;
    this._mark();
    if (rebuilt) this._build();
    else this._redraw();
  }

  // The period's time span (ms since the epoch); end may be null.
  setPeriod(startMs, endMs) {
    this.range = startMs ? [startMs / 1000, endMs ? endMs / 1000 : null] : null;
    this._redraw();
  }

  // A dashed vertical line at tMs (the replay's clock); null hides it.
  setNow(tMs) {
    this.nowMark = tMs == null ? null : tMs / 1000;
    this._redraw();
  }

  clear() {
    this.xs.length = 0;
    this.ys.forEach(y => { y.length = 0; });
    this.total = 0;
    this._mark();
    this._redraw();
  }

  destroy() {
    if (this.resizer) this.resizer.disconnect();
    if (this.plot) this.plot.destroy();
  }
}
