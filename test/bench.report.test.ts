/**
 * The bench's HTML report (bench/lib/report.ts) and the per-second timeline it draws from
 * (bench/lib/load.ts). Pure: no service, no clock — the load generator's timeline is fed answers at
 * given times. The rendering itself is checked in headless chromium by `npm run test:browser`
 * (test/browser/bench-report.browser.ts).
 */
import { expect, it } from 'vitest';
import { newRecorder, record, type Stats, summarise } from '../bench/lib/load.js';
import { renderReport, type ReportRun } from '../bench/lib/report.js';

it('the timeline counts answers and 2xx answers per second of the loop, the last partial second as a rate', () => {
  const rec = newRecorder(1000);
  // second 0: three answers (two 200, one 409); second 1: one 201 and one replayed 201; second 2 (half a second long): one 200
  record(rec, 200, 1000, 1100);
  record(rec, 409, 1000, 1500);
  record(rec, 200, 1000, 1999);
  record(rec, 201, 2000, 2000);
  record(rec, 201, 2000, 2500, true);
  record(rec, 200, 3000, 3200);
  const s = summarise('x', rec, 2.5);
  expect(s.timeline).toEqual({ answers: [3, 2, 2], ok: [2, 1, 2] });
  expect(s.requests).toBe(6);
  expect(s.created).toBe(1);
  expect(s.replayed).toBe(1);
  expect(s.okPerSec).toBe(Math.round(4 / 2.5));
  expect(s.statuses).toEqual({ '200': 3, '201': 2, '409': 1 });
});

const stats = (label: string, ok: number[], answers = ok, p50 = 5): Stats => ({
  label,
  requests: answers.reduce((a, b) => a + b, 0),
  seconds: answers.length,
  rps: Math.round(answers.reduce((a, b) => a + b, 0) / answers.length),
  statuses: { '200': ok.reduce((a, b) => a + b, 0) },
  createdPerSec: 0,
  okPerSec: Math.round(ok.reduce((a, b) => a + b, 0) / ok.length),
  created: 0,
  replayed: 0,
  p50,
  p95: p50 * 2,
  p99: p50 * 3,
  max: p50 * 10,
  errorRate: 0,
  timeline: { answers, ok },
});

const run = (i: number, ok = true): ReportRun => ({
  startedAt: `2026-11-29T11:0${i}:00.000Z`,
  loadAvg: { start: [1.5, 1, 0.5], end: [2, 1.2, 0.6] },
  scenarios: {
    'trivial-64': stats('trivial-64', [1000, 1100, 1050]),
    'atp-1-zipf': stats('atp-1-zipf', [300, 310, 290], [300, 310, 290], 40 + i),
    'mixed <b>': stats('mixed <b>', [100, 120], [130, 150]),
    old: { ...stats('old', [1]), timeline: undefined },
  },
  ratios: { 'atp-1-zipf/trivial': 0.29 + i / 100, 'mixed-ops/trivial': 0.3 },
  invariants: ok ? { ok: true, failures: [], checks: { oversoldPositions: 0 } } : { ok: false, failures: ['oversell at Z-00001@DC1 <now>'], checks: { oversoldPositions: 1 } },
});

const count = (html: string, re: RegExp) => [...html.matchAll(re)].length;

it('draws throughput over time per scenario (one line per run, dashed when answers differ from 2xx), the latency percentiles and the ratios against their targets', () => {
  const html = renderReport({ title: 'T', command: 'npm run bench:mixed -- --runs 3', runs: [run(1), run(2), run(3)], targets: { 'atp-1-zipf/trivial': 0.5, 'mixed-ops/trivial': 0.25 } });
  // a chart for each scenario with a timeline; the saved-before-timelines one says so instead
  expect(count(html, /<svg[^>]*class="chart throughput"/g)).toBe(3);
  expect(html).toContain('old: no timeline recorded');
  const chart = (name: string) => html.match(new RegExp(`<svg[^>]*data-scenario="${name}"[\\s\\S]*?</svg>`))![0];
  expect(count(chart('trivial-64'), /<polyline/g)).toBe(3);
  expect(count(chart('trivial-64'), /stroke-dasharray/g)).toBe(0);
  expect(count(chart('mixed &lt;b&gt;'), /<polyline/g)).toBe(6);
  expect(count(chart('mixed &lt;b&gt;'), /stroke-dasharray/g)).toBe(3);
  // the latency chart has p50/p95/p99/max bars for each of the 4 scenarios (median of runs: p50 of atp-1-zipf = 42)
  const lat = html.match(/<svg[^>]*class="chart latency"[\s\S]*?<\/svg>/)![0];
  expect(count(lat, /<rect[^>]*><title>/g)).toBe(16);
  expect(lat).toContain('atp-1-zipf p50 42 ms');
  // ratios: medians, each run, target, met or not
  const ratios = html.match(/<table class="ratios">[\s\S]*?<\/table>/)![0];
  expect(ratios).toMatch(/atp-1-zipf\/trivial<\/td><td>0\.31<\/td><td>0\.3, 0\.31, 0\.32<\/td><td>≥ 0\.5<\/td><td><span class="bad">no<\/span>/);
  expect(ratios).toMatch(/mixed-ops\/trivial<\/td><td>0\.3<\/td><td>0\.3, 0\.3, 0\.3<\/td><td>≥ 0\.25<\/td><td><span class="ok">yes<\/span>/);
  expect(html).toContain('Invariants: all hold in every run (3)');
  expect(html).toContain('1.50 / 1.00 / 0.50 → 2.00 / 1.20 / 0.60');
});

it('shows a failed invariant, and escapes every text it did not write itself', () => {
  const html = renderReport({ title: 'T <i>', command: 'x', runs: [run(1), run(2, false)] });
  expect(html).toContain('Invariants: FAILED');
  expect(html).toContain('<li>oversell at Z-00001@DC1 &lt;now&gt;</li>');
  expect(html).not.toContain('<b>');
  expect(html).not.toContain('<now>');
  expect(html).toContain('<title>T &lt;i&gt;</title>');
});

it('is self-contained: no script, no stylesheet or image link, no URL but the SVG namespace', () => {
  const html = renderReport({ title: 'T', command: 'x', runs: [run(1)] });
  expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|@import|url\(/i);
  expect([...html.matchAll(/https?:\/\/[^\s"')<]+/g)].map((m) => m[0]).filter((u) => u !== 'http://www.w3.org/2000/svg')).toEqual([]);
});
