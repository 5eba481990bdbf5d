/**
 * The combined fault report: reads every `.faults/report-*.json` the fault tests wrote and prints
 * the figures (requests under fault, faults injected by kind, inputs tried, acknowledged
 * reservations lost, units oversold, events lost). Exits 1 if anything acknowledged was lost or
 * oversold, or an event did not reach the stream.
 * `--clean` removes old reports first (npm run test:faults does, so figures are from one run).
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { FAULTS_DIR } from './helpers/figures.js';

const files = (() => {
  try {
    return readdirSync(FAULTS_DIR).filter((f) => /^report-.*\.json$/.test(f));
  } catch {
    return [];
  }
})();

if (process.argv.includes('--clean')) {
  for (const f of files) rmSync(path.join(FAULTS_DIR, f));
  process.exit(0);
}

interface Report {
  name: string;
  long: boolean;
  seed: number;
  at: string;
  requestsUnderFault: number;
  faultsInjected: Record<string, number>;
  inputsTried?: number;
  acknowledgedLost: number;
  unitsOversold: number;
  /** outbox events missing from the stream after the drain, plus reservation.created published twice (redis) */
  eventsLost?: number;
  load?: { requests: number; acknowledged: number; replays: number; replayMismatches: number; byStatus: Record<string, number>; deadlines: number; serverErrors: number };
}

const reports = files.map((f) => JSON.parse(readFileSync(path.join(FAULTS_DIR, f), 'utf8')) as Report).sort((a, b) => a.name.localeCompare(b.name));
if (reports.length === 0) {
  console.log('no fault reports in .faults/ (run npm run test:faults)');
  process.exit(1);
}

const sum = (f: (r: Report) => number) => reports.reduce((s, r) => s + f(r), 0);
const kinds = (r: Report) => Object.entries(r.faultsInjected).map(([k, n]) => `${k}=${n}`).join(' ');
const rows = reports.map((r) => ({
  test: r.name + (r.long ? ' (long)' : ''),
  'requests under fault': r.requestsUnderFault,
  'inputs tried': r.inputsTried ?? 0,
  'acknowledged (201s seen)': r.load?.acknowledged ?? 0,
  'replays (same body)': r.load ? `${r.load.replays} (${r.load.replays - r.load.replayMismatches})` : '',
  'acknowledged lost': r.acknowledgedLost,
  'units oversold': r.unitsOversold,
  'events lost': r.eventsLost ?? '',
  seed: r.seed,
}));
console.log('\nFault and abuse suite — combined report\n');
console.table(rows);
console.log('\nFaults injected, by kind:');
for (const r of reports) console.log(`  ${r.name.padEnd(14)} ${kinds(r)}`);
const lost = sum((r) => r.acknowledgedLost);
const oversold = sum((r) => r.unitsOversold);
const eventsLost = sum((r) => r.eventsLost ?? 0);
console.log(
  `\nTotal: ${sum((r) => r.requestsUnderFault)} requests under fault, ${sum((r) => Object.values(r.faultsInjected).reduce((a, b) => a + b, 0))} faults injected, ` +
    `${sum((r) => r.inputsTried ?? 0)} hostile inputs tried; acknowledged reservations lost: ${lost}; units oversold: ${oversold}; events lost: ${eventsLost}\n`,
);
process.exit(lost === 0 && oversold === 0 && eventsLost === 0 ? 0 : 1);
