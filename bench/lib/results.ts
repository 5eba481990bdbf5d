/** Where a bench run's JSON and its HTML report go: side by side in bench/results/ (or next to `--json FILE`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import path from 'node:path';
import { ROOT } from './proc.js';
import { renderReport, type ReportInput } from './report.js';

/** `bench/results/<name>-<UTC yyyymmdd-hhmmss>.json` unless a path is given; the report is the same name with `.html`. */
export function resultPaths(name: string, json?: string): { json: string; html: string } {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const j = path.resolve(json ?? path.join(ROOT, 'bench/results', `${name}-${stamp}.json`));
  return { json: j, html: j.replace(/\.json$/i, '') + '.html' };
}

/** Write the summary as JSON and its report as HTML; returns both paths. */
export function writeResults(paths: { json: string; html: string }, summary: unknown, report: ReportInput): { json: string; html: string } {
  mkdirSync(path.dirname(paths.json), { recursive: true });
  writeFileSync(paths.json, JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(paths.html, renderReport(report));
  return paths;
}

/** The 1, 5 and 15 minute load averages, two decimals (the box is shared: each figure carries its load). */
export const loadAverage = (): number[] => loadavg().map((v) => Math.round(v * 100) / 100);
