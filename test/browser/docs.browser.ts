/**
 * `npm run test:browser` (opt-in, not part of `npm test`: it needs Debian's `chromium`).
 *
 * /docs renders offline: the service runs as a real process (embedded PGlite in a temporary
 * ATP_DATA_DIR), headless chromium loads /docs with every host but 127.0.0.1 made unresolvable
 * (`--host-resolver-rules`), so a page that needed a CDN or a font host would stay blank, and a
 * network log records every request the page made. Checked: every operation of /openapi.json is
 * in the rendered reference, the page made no request to any other host (a control page that does
 * shows the check can fail), and a screenshot is written to .browser/docs.png for a human to look at.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startService, type ServiceProcess } from '../faults/helpers/service-process.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const OUT = path.join(ROOT, '.browser');
const CHROMIUM = process.env.CHROMIUM ?? 'chromium';

let svc: ServiceProcess;
let dataDir: string;
let scratch: string;

beforeAll(async () => {
  const found = await run(CHROMIUM, ['--version']).catch((err: Error) => err);
  if (found instanceof Error) throw new Error(`headless chromium is needed: apt-get update && apt-get install -y chromium (or set CHROMIUM); ${found.message}`);
  mkdirSync(OUT, { recursive: true });
  scratch = await mkdtemp(path.join(tmpdir(), 'atp-browser-'));
  dataDir = await mkdtemp(path.join(tmpdir(), 'atp-browser-data-'));
  svc = await startService('browser-docs', { ATP_DATA_DIR: dataDir });
}, 120_000);

afterAll(async () => {
  await svc?.stop();
  await rm(dataDir, { recursive: true, force: true });
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
/** headless chromium with every host but 127.0.0.1 unresolvable and the browser's own background traffic off */
async function chromium(url: string, extra: string[]): Promise<string> {
  const userDataDir = path.join(scratch, `profile-${++profile}`);
  return run(CHROMIUM, [
    '--headless',
    '--no-sandbox', // runs as root in CI
    '--disable-gpu',
    `--user-data-dir=${userDataDir}`,
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    // the browser's own per-page service calls (autofill queries and the like) are not the page's
    '--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter',
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    // virtual time: the page's scripts and fetches run to quiescence, then the DOM is taken
    '--virtual-time-budget=30000',
    '--window-size=1400,1000',
    ...extra,
    url,
  ]);
}

interface NetLog {
  constants: { logEventTypes: Record<string, number> };
  events: { type: number; params?: { url?: string; network_isolation_key?: string; initiator?: string } }[];
}

/**
 * The URLs the page itself asked for: requests started on behalf of a document whose top frame is
 * 127.0.0.1 (its network isolation key), or initiated by it. The browser's own service traffic
 * (update checks, accounts) has neither and is not the page's doing.
 */
function pageRequests(netLogFile: string): string[] {
  const log = JSON.parse(readFileSync(netLogFile, 'utf8')) as NetLog;
  const start = log.constants.logEventTypes.URL_REQUEST_START_JOB;
  const urls = new Set<string>();
  for (const e of log.events) {
    if (e.type !== start || !e.params?.url) continue;
    const fromPage = /^http:\/\/127\.0\.0\.1\b/.test(e.params.network_isolation_key ?? '') || /^http:\/\/127\.0\.0\.1\b/.test(e.params.initiator ?? '');
    if (fromPage) urls.add(e.params.url);
  }
  return [...urls].sort();
}

const outside = (urls: string[]) => urls.filter((u) => new URL(u).hostname !== '127.0.0.1');

it('the network check can fail: a page that loads a CDN script and a font host is caught', async () => {
  const control: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(
      '<!doctype html><html><head><link rel="stylesheet" href="https://fonts.scalar.com/inter.css"></head>' +
        '<body><div id="app"></div><script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference"></script></body></html>',
    );
  });
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  try {
    const port = (control.address() as { port: number }).port;
    const netLog = path.join(scratch, 'control.netlog.json');
    await chromium(`http://127.0.0.1:${port}/`, [`--log-net-log=${netLog}`, '--dump-dom']);
    const urls = pageRequests(netLog);
    expect(urls).toContain(`http://127.0.0.1:${port}/`);
    expect(outside(urls)).toEqual(['https://cdn.jsdelivr.net/npm/@scalar/api-reference', 'https://fonts.scalar.com/inter.css']);
  } finally {
    await new Promise((r) => control.close(r));
  }
});

it('/docs renders every operation with no request leaving 127.0.0.1', async () => {
  const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { summary?: string }>> };
  const netLog = path.join(scratch, 'docs.netlog.json');
  const dom = await chromium(`${svc.url}/docs`, [`--log-net-log=${netLog}`, '--dump-dom']);

  const urls = pageRequests(netLog);
  expect(outside(urls), 'requests to other hosts').toEqual([]);
  const paths = urls.map((u) => new URL(u).pathname);
  for (const p of ['/docs', '/docs/api-reference.js', '/openapi.json']) expect(paths).toContain(p);

  // every operation is in the rendered reference (Scalar's sidebar entries are `…/METHOD/path`)
  const sidebar = new Set([...dom.matchAll(/data-sidebar-id="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&')));
  const missing: string[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) if (![...sidebar].some((id) => id.endsWith(`/${method.toUpperCase()}${p}`))) missing.push(`${method.toUpperCase()} ${p}`);
  }
  expect(missing, 'operations not rendered').toEqual([]);
  expect(Object.keys(doc.paths).length).toBeGreaterThan(10);
  const text = dom.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/g, ' ').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
  const reserve = doc.paths['/v1/reservations']!.post!.summary!;
  expect(text).toContain(reserve);
  expect(text).toContain('ATP allocation service');
});

it('writes a screenshot of /docs to .browser/docs.png', async () => {
  const file = path.join(OUT, 'docs.png');
  await rm(file, { force: true });
  await chromium(`${svc.url}/docs`, ['--hide-scrollbars', `--screenshot=${file}`]);
  expect(existsSync(file)).toBe(true);
  // a blank white page compresses to a few kB; the rendered reference is far larger
  expect(statSync(file).size).toBeGreaterThan(30_000);
  console.log(`screenshot: ${file}`);
});
