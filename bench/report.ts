/**
 * (Re)write the HTML report of saved bench results: `npm run bench:report -- bench/results/<run>.json [...]`.
 * Each `<run>.json` written by bench:flash-sale or bench:mixed gets `<run>.html` next to it (the
 * benches do this themselves; this is for older results, or after a change to the report).
 * Results from before the timelines existed render without the throughput-over-time charts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FLASH_SALE_TARGETS } from './flash-sale.js';
import { TARGETS } from './mixed.js';
import { renderReport, type ReportRun } from './lib/report.js';

type Op = { count: number; perSec: number; statuses: Record<string, number>; p50: number; p95: number; p99: number; max: number };
interface Saved {
  command?: string;
  notes?: string[];
  machine?: Record<string, unknown>;
  runs?: (Partial<ReportRun> & { startedAt: string; ops?: Record<string, Op> })[];
}

/** A mixed run saved before the scenarios map existed: its per-operation figures as scenarios. */
function fromOps(ops: Record<string, Op>): ReportRun['scenarios'] {
  return Object.fromEntries(
    Object.entries(ops).map(([k, o]) => {
      const ok = Object.entries(o.statuses).filter(([s]) => Number(s) >= 200 && Number(s) < 300).reduce((n, [, v]) => n + v, 0);
      const seconds = o.perSec ? o.count / o.perSec : 0;
      const stats = { label: `mixed:${k}`, requests: o.count, seconds, rps: o.perSec, statuses: o.statuses, createdPerSec: 0, okPerSec: o.count ? Math.round((o.perSec * ok) / o.count) : 0, created: 0, replayed: 0, p50: o.p50, p95: o.p95, p99: o.p99, max: o.max, errorRate: 0 };
      return [`mixed:${k}`, stats];
    }),
  );
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run bench:report -- bench/results/<run>.json [...]');
  process.exit(2);
}
for (const f of files) {
  const saved = JSON.parse(readFileSync(f, 'utf8')) as Saved;
  const flash = (saved.command ?? '').includes('flash-sale');
  const runs: ReportRun[] = (saved.runs ?? [])
    .filter((r) => (r.scenarios || r.ops) && r.invariants)
    .map((r) => ({ startedAt: r.startedAt, loadAvg: r.loadAvg, scenarios: r.scenarios ?? fromOps(r.ops!), ratios: r.ratios ?? {}, invariants: r.invariants! }));
  if (runs.length === 0) {
    console.error(`${f}: no runs with scenarios and invariants; skipped`);
    continue;
  }
  const out = f.replace(/\.json$/i, '') + '.html';
  writeFileSync(out, renderReport({ title: flash ? 'ATP service — flash sale' : 'ATP service — reads, promise and mixed workload', command: saved.command ?? '?', machine: saved.machine, runs, targets: flash ? FLASH_SALE_TARGETS : TARGETS, notes: saved.notes }));
  console.log(out);
}
