/**
 * The picture of a bench run for the people who read the results: one self-contained HTML file
 * (inline CSS and SVG, no script, no font, no request to any host) written next to the run's JSON.
 * It shows, for every run of the set: the ratios to the trivial route against their targets,
 * throughput over time per scenario (2xx answers/s and all answers/s, one line per run), the
 * latency percentiles (medians of the runs, log scale), the scenario table and the invariant checks.
 * Pure: `renderReport(input)` returns the HTML; nothing here measures or decides anything.
 */
import type { InvariantReport } from './db.js';
import { median, type Stats } from './load.js';

export interface ReportRun {
  startedAt: string;
  /** os.loadavg() when the run started and when it ended (1, 5, 15 min) */
  loadAvg?: { start: number[]; end: number[] } | undefined;
  scenarios: Record<string, Stats>;
  ratios: Record<string, number>;
  invariants: InvariantReport;
}

export interface ReportInput {
  title: string;
  command: string;
  machine?: Record<string, unknown> | undefined;
  runs: ReportRun[];
  /** the target of a ratio (met when the median is ≥ it) */
  targets?: Record<string, number> | undefined;
  /** one line each, shown under the title (what a scenario is, what the ratios divide) */
  notes?: string[] | undefined;
}

const RUN_COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#8250df', '#bf8700', '#0a3069'];
const PCT_COLORS: Record<string, string> = { p50: '#1a7f37', p95: '#bf8700', p99: '#d1242f', max: '#6e7781' };

export const esc = (s: unknown): string =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const fmt = (x: number): string =>
  Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x !== 0 && Math.abs(x) < 0.1 ? String(Number(x.toPrecision(2))) : String(Math.round(x * 100) / 100);

/** A round upper bound for an axis: 1, 2 or 5 × 10^k at or above x. */
function niceMax(x: number): number {
  if (!(x > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * e >= x) return m * e;
  return 10 * e;
}

interface Series {
  label: string;
  color: string;
  dashed?: boolean;
  values: number[];
}

/** Lines over seconds: x = second of the scenario, y = per second. */
export function lineChart(title: string, series: Series[], attrs: string): string {
  const W = 420;
  const H = 190;
  const L = 56;
  const R = 10;
  const T = 22;
  const B = 30;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => L + ((W - L - R) * (i + 0.5)) / n;
  const y = (v: number) => T + (H - T - B) * (1 - v / yMax);
  const parts: string[] = [];
  parts.push(`<text x="${L}" y="14" class="ct">${esc(title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (yMax * k) / 4;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${L - 4}" y="${y(v) + 4}" class="yt">${esc(fmt(v))}</text>`);
  }
  const step = Math.max(1, Math.ceil(n / 8));
  for (let i = 0; i < n; i += step) parts.push(`<text x="${x(i)}" y="${H - 14}" class="xt">${i + 1}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 2}" class="xt">second of the scenario</text>`);
  for (const s of series) {
    if (s.values.length === 0) continue;
    const pts = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="4 3"' : ''}><title>${esc(s.label)}</title></polyline>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" ${attrs}><title>${esc(title)}</title>${parts.join('')}</svg>`;
}

/** Horizontal bars on a log axis (ms): per scenario p50, p95, p99, max. */
export function latencyChart(rows: { name: string; p: Record<'p50' | 'p95' | 'p99' | 'max', number> }[]): string {
  const W = 900;
  const L = 170;
  const R = 70;
  const rowH = 46;
  const T = 30;
  const H = T + rows.length * rowH + 30;
  const all = rows.flatMap((r) => Object.values(r.p)).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(1, ...all))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(10, ...all)));
  const x = (v: number) => L + ((W - L - R) * (Math.log10(Math.max(lo, v)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo));
  const parts: string[] = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) parts.push(`<line x1="${x(d)}" x2="${x(d)}" y1="${T - 6}" y2="${H - 24}" class="grid"/><text x="${x(d)}" y="${H - 10}" class="xt">${esc(fmt(d))} ms</text>`);
  let lx = L;
  for (const [k, c] of Object.entries(PCT_COLORS)) {
    parts.push(`<rect x="${lx}" y="6" width="10" height="10" fill="${c}"/><text x="${lx + 14}" y="15" class="lg">${k}</text>`);
    lx += 60;
  }
  rows.forEach((r, i) => {
    const y0 = T + i * rowH;
    parts.push(`<text x="${L - 6}" y="${y0 + rowH / 2}" class="yt">${esc(r.name)}</text>`);
    (['p50', 'p95', 'p99', 'max'] as const).forEach((k, j) => {
      const v = r.p[k];
      const yb = y0 + 3 + j * 10;
      parts.push(`<rect x="${L}" y="${yb}" width="${Math.max(1, x(v) - L).toFixed(1)}" height="9" fill="${PCT_COLORS[k]}"><title>${esc(`${r.name} ${k} ${fmt(v)} ms`)}</title></rect>`);
      parts.push(`<text x="${x(v) + 4}" y="${yb + 8}" class="bv">${esc(fmt(v))}</text>`);
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" class="chart latency"><title>latency percentiles</title>${parts.join('')}</svg>`;
}

/** Horizontal bars of ratios (0 … max(1, targets)), a tick at each target. */
export function ratioChart(rows: { name: string; value: number; target?: number | undefined }[]): string {
  const W = 900;
  const L = 230;
  const R = 60;
  const rowH = 26;
  const T = 10;
  const H = T + rows.length * rowH + 26;
  const max = Math.max(1, ...rows.map((r) => Math.max(r.value, r.target ?? 0)));
  const x = (v: number) => L + ((W - L - R) * v) / max;
  const parts: string[] = [];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${T}" y2="${H - 22}" class="grid"/><text x="${x(v)}" y="${H - 8}" class="xt">${esc(fmt(v))}×</text>`);
  }
  rows.forEach((r, i) => {
    const y0 = T + i * rowH;
    const met = r.target === undefined ? undefined : r.value >= r.target;
    const color = met === undefined ? '#1f6feb' : met ? '#1a7f37' : '#d1242f';
    parts.push(`<text x="${L - 6}" y="${y0 + 16}" class="yt">${esc(r.name)}</text>`);
    parts.push(`<rect x="${L}" y="${y0 + 5}" width="${Math.max(1, x(r.value) - L).toFixed(1)}" height="14" fill="${color}"><title>${esc(`${r.name} ${r.value}`)}</title></rect>`);
    parts.push(`<text x="${x(r.value) + 4}" y="${y0 + 16}" class="bv">${esc(fmt(r.value))}×</text>`);
    if (r.target !== undefined) parts.push(`<line x1="${x(r.target)}" x2="${x(r.target)}" y1="${y0 + 1}" y2="${y0 + 23}" stroke="#24292f" stroke-width="2"><title>${esc(`target ≥ ${r.target}`)}</title></line>`);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" class="chart ratios"><title>ratios to the trivial route</title>${parts.join('')}</svg>`;
}

const CSS = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#24292f;margin:24px;max-width:1320px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
code{font:12.5px ui-monospace,monospace;background:#f6f8fa;padding:1px 4px;border-radius:4px}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}
th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}.ok{color:#1a7f37;font-weight:600}.bad{color:#d1242f;font-weight:600}
.banner{padding:8px 12px;border-radius:6px;margin:10px 0;font-weight:600}.banner.ok{background:#dafbe1}.banner.bad{background:#ffebe9}
.grid{stroke:#eaeef2;stroke-width:1}.ct{font-size:13px;font-weight:600;fill:#24292f}.yt{font-size:11px;text-anchor:end;fill:#57606a}
.xt{font-size:11px;text-anchor:middle;fill:#57606a}.bv{font-size:11px;fill:#24292f}.lg{font-size:12px;fill:#24292f}
.charts{display:flex;flex-wrap:wrap;gap:10px}.charts svg{border:1px solid #d0d7de;border-radius:6px;background:#fff}
.muted{color:#57606a}ul{margin:4px 0}`;

const loadStr = (l?: { start: number[]; end: number[] }) => (l ? `${l.start.map((v) => v.toFixed(2)).join(' / ')} → ${l.end.map((v) => v.toFixed(2)).join(' / ')}` : '—');

/** The whole report as one HTML document. */
export function renderReport(input: ReportInput): string {
  const runs = input.runs;
  const names = [...new Set(runs.flatMap((r) => Object.keys(r.scenarios)))];
  const ratioNames = [...new Set(runs.flatMap((r) => Object.keys(r.ratios)))];
  const allOk = runs.length > 0 && runs.every((r) => r.invariants.ok);
  const med = (n: string, f: (s: Stats) => number) => median(runs.flatMap((r) => (r.scenarios[n] ? [f(r.scenarios[n])] : [])));
  const h: string[] = [];
  h.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title><style>${CSS}</style></head><body>`);
  h.push(`<h1>${esc(input.title)}</h1>`);
  h.push(`<p class="muted">command: <code>${esc(input.command)}</code></p>`);
  if (input.machine) h.push(`<p class="muted">machine: ${Object.entries(input.machine).map(([k, v]) => `${esc(k)} <code>${esc(v)}</code>`).join(' · ')}</p>`);
  for (const n of input.notes ?? []) h.push(`<p class="muted">${esc(n)}</p>`);
  h.push(`<table class="runs"><tr><th>run</th><th>started (UTC)</th><th>load average 1/5/15 min, start → end</th><th>invariants</th></tr>`);
  runs.forEach((r, i) =>
    h.push(`<tr><td><span style="color:${RUN_COLORS[i % RUN_COLORS.length]}">■</span> run ${i + 1}</td><td>${esc(r.startedAt)}</td><td>${esc(loadStr(r.loadAvg))}</td><td class="${r.invariants.ok ? 'ok' : 'bad'}">${r.invariants.ok ? 'all hold' : 'FAILED'}</td></tr>`),
  );
  h.push(`</table>`);
  h.push(`<div class="banner ${allOk ? 'ok' : 'bad'}" id="verdict">${allOk ? `Invariants: all hold in every run (${runs.length})` : 'Invariants: FAILED — see the checks below'}</div>`);

  if (ratioNames.length) {
    h.push(`<h2 id="ratios">Ratios to the trivial route, same run (median of ${runs.length})</h2>`);
    const rows = ratioNames.map((k) => ({ name: k, value: median(runs.map((r) => r.ratios[k] ?? 0)), target: input.targets?.[k] }));
    h.push(ratioChart(rows));
    h.push(`<table class="ratios"><tr><th>ratio</th><th>median</th><th>runs</th><th>target</th><th>met</th></tr>`);
    for (const r of rows) {
      const met = r.target === undefined ? '' : r.value >= r.target ? '<span class="ok">yes</span>' : '<span class="bad">no</span>';
      h.push(`<tr><td>${esc(r.name)}</td><td>${esc(fmt(r.value))}</td><td>${esc(runs.map((x) => fmt(x.ratios[r.name] ?? 0)).join(', '))}</td><td>${r.target === undefined ? '' : `≥ ${esc(r.target)}`}</td><td>${met}</td></tr>`);
    }
    h.push(`</table>`);
  }

  h.push(`<h2 id="throughput">Throughput over time</h2><p class="muted">solid: 2xx answers/s (not replays); dashed: all answers/s (409s, 429s, errors included). One colour per run.</p><div class="charts">`);
  for (const n of names) {
    const series: Series[] = [];
    runs.forEach((r, i) => {
      const t = r.scenarios[n]?.timeline;
      if (!t) return;
      const color = RUN_COLORS[i % RUN_COLORS.length]!;
      series.push({ label: `run ${i + 1} 2xx/s`, color, values: t.ok });
      if (t.answers.some((v, j) => v !== t.ok[j])) series.push({ label: `run ${i + 1} answers/s`, color, dashed: true, values: t.answers });
    });
    if (series.length === 0) h.push(`<p class="muted">${esc(n)}: no timeline recorded</p>`);
    else h.push(lineChart(`${n} — per second`, series, `class="chart throughput" data-scenario="${esc(n)}"`));
  }
  h.push(`</div>`);

  h.push(`<h2 id="latency">Latency percentiles (median of the runs)</h2>`);
  h.push(latencyChart(names.map((n) => ({ name: n, p: { p50: med(n, (s) => s.p50), p95: med(n, (s) => s.p95), p99: med(n, (s) => s.p99), max: med(n, (s) => s.max) } }))));
  h.push(`<h2 id="scenarios">Scenarios (medians)</h2><table class="scenarios"><tr><th>scenario</th><th>2xx/s</th><th>answers/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>statuses (last run)</th></tr>`);
  for (const n of names) {
    const last = [...runs].reverse().find((r) => r.scenarios[n])!.scenarios[n]!;
    const okps = med(n, (s) => s.okPerSec ?? s.createdPerSec);
    h.push(
      `<tr><td>${esc(n)}</td><td>${esc(fmt(okps))}</td><td>${esc(fmt(med(n, (s) => s.rps)))}</td>${(['p50', 'p95', 'p99', 'max'] as const).map((k) => `<td>${esc(fmt(med(n, (s) => s[k])))}</td>`).join('')}<td>${esc(Object.entries(last.statuses).map(([k, v]) => `${k}: ${v}`).join(', '))}</td></tr>`,
    );
  }
  h.push(`</table>`);

  h.push(`<h2 id="invariants">Invariant checks</h2><table class="invariants"><tr><th>run</th><th>result</th><th>failures</th><th>checks</th></tr>`);
  runs.forEach((r, i) => {
    const checks = Object.entries(r.invariants.checks)
      .map(([k, v]) => `${esc(k)}: <code>${esc(JSON.stringify(v).slice(0, 300))}</code>`)
      .join('<br>');
    h.push(`<tr><td>run ${i + 1}</td><td class="${r.invariants.ok ? 'ok' : 'bad'}">${r.invariants.ok ? 'hold' : 'FAILED'}</td><td>${r.invariants.failures.length ? `<ul>${r.invariants.failures.map((f) => `<li>${esc(f)}</li>`).join('')}</ul>` : '—'}</td><td style="text-align:left">${checks}</td></tr>`);
  });
  h.push(`</table>`);
  h.push(`</body></html>\n`);
  return h.join('\n');
}
