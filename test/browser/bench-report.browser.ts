/**
 * `npm run test:browser` (opt-in, needs Debian's `chromium`): the bench reports render.
 *
 * A report rendered by bench/lib/report.ts from a known run, and every report checked in under
 * bench/results/ (the benches' own HTML and k6's dashboard exports), are opened from disk in headless
 * chromium with every host but 127.0.0.1 unresolvable. Checked: the page asked for nothing over the
 * network (a control page that does is caught), the DOM has the charts and the verdict, and the
 * screenshot really has the charts painted — its pixels include the run colours of the throughput
 * lines and the red/green of the ratio bars (a page whose SVG did not paint has none). Screenshots
 * go to .browser/ for a human to look at.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Stats } from '../../bench/lib/load.js';
import { renderReport, type ReportRun } from '../../bench/lib/report.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(ROOT, '.browser');
const RESULTS = path.join(ROOT, 'bench/results');
const CHROMIUM = process.env.CHROMIUM ?? 'chromium';
let scratch: string;

beforeAll(async () => {
  const found = await run(CHROMIUM, ['--version']).catch((err: Error) => err);
  if (found instanceof Error) throw new Error(`headless chromium is needed: apt-get update && apt-get install -y chromium (or set CHROMIUM); ${found.message}`);
  mkdirSync(OUT, { recursive: true });
  scratch = await mkdtemp(path.join(tmpdir(), 'atp-report-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    // the timeout only guards against a hung browser; nothing is decided by time
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: 180_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} failed: ${err.message}\n${stderr.slice(-2000)}`)) : resolve(stdout),
    ),
  );
}

let profile = 0;
function chromium(file: string, extra: string[]): Promise<string> {
  return run(CHROMIUM, [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    `--user-data-dir=${path.join(scratch, `profile-${++profile}`)}`,
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    '--virtual-time-budget=20000',
    '--hide-scrollbars',
    '--window-size=1400,2400',
    ...extra,
    `file://${file}`,
  ]);
}

/** Requests made on behalf of the file:// page (the browser's own service traffic has another isolation key). */
function pageRequests(netLogFile: string): string[] {
  const log = JSON.parse(readFileSync(netLogFile, 'utf8')) as { constants: { logEventTypes: Record<string, number> }; events: { type: number; params?: { url?: string; network_isolation_key?: string } }[] };
  const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
  return [...new Set(log.events.filter((e) => e.type === start && e.params?.url && (e.params.network_isolation_key ?? '').startsWith('file://')).map((e) => e.params!.url!))].sort();
}

/** The RGB pixels of a PNG as chromium writes it (8-bit RGB or RGBA, not interlaced). */
function pngPixels(file: string): { width: number; height: number; rgb: (i: number) => [number, number, number]; count: number } {
  const buf = readFileSync(file);
  let pos = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('ascii', pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit, non-interlaced PNGs');
      colorType = data[9]!;
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  if (!bpp) throw new Error(`PNG colour type ${colorType} not handled`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const px = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const r = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= bpp ? px[y * stride + x - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp]! : 0;
      const p = a + b - c;
      const pr = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      px[y * stride + x] = (r + [0, a, b, (a + b) >> 1, pr][f]!) & 0xff;
    }
  }
  return { width, height, count: width * height, rgb: (i) => [px[i * bpp]!, px[i * bpp + 1]!, px[i * bpp + 2]!] };
}

/** How many pixels are (within a small tolerance) this colour. */
function pixelsOf(img: ReturnType<typeof pngPixels>, hex: string): number {
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < img.count; i++) {
    const p = img.rgb(i);
    if (Math.abs(p[0] - want[0]!) < 12 && Math.abs(p[1] - want[1]!) < 12 && Math.abs(p[2] - want[2]!) < 12) n++;
  }
  return n;
}

const BLUE = '#1f6feb'; // run 1's throughput line
const GREEN = '#1a7f37'; // a ratio that meets its target; p50 bars
const RED = '#d1242f'; // a ratio that misses its target; run 2's line

const stats = (label: string, ok: number[], p50: number): Stats => ({
  label,
  requests: ok.reduce((a, b) => a + b, 0),
  seconds: ok.length,
  rps: Math.round(ok.reduce((a, b) => a + b, 0) / ok.length),
  statuses: { '200': ok.reduce((a, b) => a + b, 0) },
  createdPerSec: 0,
  okPerSec: Math.round(ok.reduce((a, b) => a + b, 0) / ok.length),
  created: 0,
  replayed: 0,
  p50,
  p95: p50 * 2,
  p99: p50 * 3,
  max: p50 * 6,
  errorRate: 0,
  timeline: { answers: ok, ok },
});
const knownRun = (i: number): ReportRun => ({
  startedAt: `2026-11-29T11:0${i}:00.000Z`,
  loadAvg: { start: [1, 1, 1], end: [1, 1, 1] },
  // run 2 ran at 70 % of run 1, so its lines lie apart from run 1's
  scenarios: Object.fromEntries(
    ([['trivial-64', [9000, 9500, 9400, 9300], 6], ['atp-1-zipf', [600, 650, 640, 630], 90], ['mixed', [400, 420, 410], 200]] as const).map(([n, ok, p50]) => [n, stats(n, ok.map((v) => (i === 1 ? v : Math.round(v * 0.7))), p50)]),
  ),
  ratios: { 'atp-1-zipf/trivial': 0.07, 'mixed-ops/trivial': 0.3 },
  invariants: { ok: true, failures: [], checks: { oversoldPositions: 0 } },
});

async function shoot(file: string, name: string) {
  const png = path.join(OUT, `${name}.png`);
  await chromium(file, [`--screenshot=${png}`]);
  return pngPixels(png);
}

it('the network check can fail: a file page that loads a stylesheet and an image from other hosts is caught', async () => {
  const page = path.join(scratch, 'control.html');
  writeFileSync(page, '<!doctype html><html><head><link rel="stylesheet" href="https://cdn.example.com/x.css"></head><body><img src="https://img.example.com/x.png"><p>x</p></body></html>');
  const netLog = path.join(scratch, 'control.netlog.json');
  await chromium(page, [`--log-net-log=${netLog}`, '--dump-dom']);
  expect(pageRequests(netLog)).toEqual(['https://cdn.example.com/x.css', 'https://img.example.com/x.png']);
});

it('the pixel check can fail: a page of text only has none of the chart colours', async () => {
  const page = path.join(scratch, 'text.html');
  writeFileSync(page, '<!doctype html><html><body><h1>ATP service</h1><p>no charts here</p></body></html>');
  const img = await shoot(page, 'control-text');
  expect(pixelsOf(img, BLUE) + pixelsOf(img, GREEN) + pixelsOf(img, RED)).toBe(0);
});

it('a report of a known run renders offline: charts painted, verdict and ratios in the DOM, no request', async () => {
  const page = path.join(scratch, 'report.html');
  writeFileSync(page, renderReport({ title: 'known run', command: 'npm run bench:mixed -- --runs 2', runs: [knownRun(1), knownRun(2)], targets: { 'atp-1-zipf/trivial': 0.5, 'mixed-ops/trivial': 0.25 } }));
  const netLog = path.join(scratch, 'report.netlog.json');
  const dom = await chromium(page, [`--log-net-log=${netLog}`, '--dump-dom']);
  expect(pageRequests(netLog)).toEqual([]);
  expect([...dom.matchAll(/<svg[^>]*class="chart throughput"/g)].length).toBe(3);
  expect(dom).toContain('class="chart latency"');
  expect(dom).toContain('Invariants: all hold in every run (2)');
  const img = await shoot(page, 'bench-report-known');
  // the lines of run 1 (blue) and run 2 (red), a missed ratio (red) and a met one and the p50 bars (green)
  expect(pixelsOf(img, BLUE)).toBeGreaterThan(500);
  expect(pixelsOf(img, RED)).toBeGreaterThan(500);
  expect(pixelsOf(img, GREEN)).toBeGreaterThan(500);
});

const checkedIn = readdirSync(RESULTS).filter((f) => f.endsWith('.html'));
describe.skipIf(checkedIn.length === 0)('every report checked in under bench/results/ renders offline', () => {
  for (const f of checkedIn) {
    it(f, async () => {
      const page = path.join(RESULTS, f);
      const netLog = path.join(scratch, `${f}.netlog.json`);
      const dom = await chromium(page, [`--log-net-log=${netLog}`, '--dump-dom']);
      expect(pageRequests(netLog).filter((u) => !u.startsWith('file:') && !u.startsWith('data:') && !u.startsWith('blob:'))).toEqual([]);
      const img = await shoot(page, `results-${f.replace(/\.html$/, '')}`);
      if (f.startsWith('k6-')) {
        // k6's dashboard is a script-rendered page: it must have drawn its panels (text and charts) from the embedded data
        const text = dom.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/g, ' ').replace(/<[^>]+>/g, ' ');
        expect(text).toMatch(/Request Rate|HTTP Request Duration|Iterations/i);
        expect(dom).toMatch(/<canvas|<svg/);
      } else {
        expect(dom).toMatch(/<svg[^>]*class="chart (throughput|latency)"/);
        expect(pixelsOf(img, BLUE) + pixelsOf(img, GREEN)).toBeGreaterThan(500);
      }
    });
  }
});
