/**
 * Quick read benchmark (issue 15, the read path's before/after):
 * `npx tsx bench/reads-quick.ts [--runs 3 --duration 10 --connections 64 --skus 1000]`.
 *
 * Per run: a fresh database, the service and the trivial Hono route as child processes, the
 * priority rules in force, SKUS SKUs seeded through the API (one location each, a third with an
 * inbound supply). Then, C connections each for D seconds (closed loop), in this order:
 *   trivial   GET /healthz of bench/trivial-server.ts (the HTTP ceiling of the same stack)
 *   atp-1     GET /v1/atp, 1 uniform-random SKU, a channel
 *   atp-10    GET /v1/atp, 10 SKUs, a channel
 *   promise-3 POST /v1/promise, 3 lines
 * and prints req/s, p50/p99 and the ratio of each to the trivial route of the same run (medians
 * over --runs). Every answer must be 200 (the run fails otherwise). Service settings pass through
 * the environment (e.g. `ATP_READ_POOL_MAX=4`). `--profile` writes the service's CPU profile to
 * bench/profiles/ (read it with bench/profile-summary.ts).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { adminHeaders, createBenchDatabase, pickChannel, putRules, seedPositions } from './lib/db.js';
import { closedLoop, median, type Req, type Stats } from './lib/load.js';
import { OMS_KEY, ROOT, startService, startTrivial } from './lib/proc.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' }, skus: { type: 'string' }, only: { type: 'string' }, profile: { type: 'boolean' } } });
const runs = Number(values.runs ?? 3);
const D = Number(values.duration ?? 10) * 1000;
const C = Number(values.connections ?? 64);
const N = Number(values.skus ?? 1000);
const only = values.only?.split(',');

const headers = { authorization: `Bearer ${OMS_KEY}` };
const sku = (i: number) => `R-${String(i).padStart(5, '0')}`;
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = () => sku(Math.floor(rnd() * N));

const scenarios: Record<string, () => Req> = {
  'atp-1': () => ({ method: 'GET', path: `/v1/atp?sku=${pick()}&channel=${pickChannel(rnd())}`, headers }),
  'atp-10': () => ({ method: 'GET', path: `/v1/atp?${Array.from({ length: 10 }, () => `sku=${pick()}`).join('&')}&channel=${pickChannel(rnd())}`, headers }),
  'promise-3': () => ({
    method: 'POST',
    path: '/v1/promise',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ channel: pickChannel(rnd()), lines: [pick(), pick(), pick()].map((s, i) => ({ sku: s, qty: 1 + i })) }),
  }),
};

async function seedSupply(url: string) {
  const pool = new Pool(url, { connections: 16 });
  const at = new Date(Date.now() + 7 * 86_400_000).toISOString();
  const todo = Array.from({ length: Math.ceil(N / 3) }, (_, k) => sku(k * 3));
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let s = todo.pop(); s; s = todo.pop()) {
        const r = await pool.request({ path: '/v1/supply', method: 'POST', headers: { ...adminHeaders, 'idempotency-key': `seed-${s}` }, body: JSON.stringify({ sku: s, location: 'WH1', qty: 100, expectedAt: at, kind: 'po' }) });
        const t = await r.body.text();
        if (r.statusCode >= 300) throw new Error(`POST /v1/supply ${s}: ${r.statusCode} ${t}`);
      }
    }),
  );
  await pool.close();
}

async function oneRun(r: number): Promise<Record<string, Stats>> {
  const db = await createBenchDatabase();
  const svc = await startService({ databaseUrl: db.url, extra: { ATP_SWEEP_INTERVAL_MS: '1000' } }, `reads-${r}`, values.profile ? path.join(ROOT, 'bench/profiles') : undefined);
  const trivial = await startTrivial(`trivial-${r}`);
  const out: Record<string, Stats> = {};
  try {
    await putRules(svc.url);
    await seedPositions(svc.url, Array.from({ length: N }, (_, i) => ({ sku: sku(i), location: i % 2 ? 'WH1' : 'WH2', onHand: 200 + (i % 50) })));
    await seedSupply(svc.url);
    const want = (s: string) => !only || only.includes(s);
    if (want('trivial')) out.trivial = await closedLoop({ label: 'trivial', url: trivial.url, connections: C, durationMs: D, next: () => ({ method: 'GET', path: '/healthz' }) });
    for (const [name, next] of Object.entries(scenarios)) {
      if (!want(name)) continue;
      // a short warm-up (JIT, prepared statements) outside the measurement
      await closedLoop({ label: `${name}-warm`, url: svc.url, connections: C, durationMs: 1500, next, quiet: true });
      out[name] = await closedLoop({ label: name, url: svc.url, connections: C, durationMs: D, next });
      const bad = Object.entries(out[name]!.statuses).filter(([s]) => s !== '200');
      if (bad.length > 0) throw new Error(`${name}: answers other than 200: ${JSON.stringify(out[name]!.statuses)}`);
    }
  } finally {
    await svc.stop();
    await trivial.stop();
    await db.drop();
  }
  return out;
}

const all: Record<string, Stats>[] = [];
for (let r = 1; r <= runs; r++) {
  process.stderr.write(`\n=== reads run ${r}/${runs}: ${N} SKUs, ${C} connections, ${D / 1000}s per scenario ===\n`);
  all.push(await oneRun(r));
}
const names = Object.keys(all[0]!);
console.log(`\n${runs > 1 ? `medians of ${runs} runs` : '1 run'}: ${N} SKUs, ${C} connections, ${D / 1000} s per scenario`);
console.log('scenario     req/s   p50 ms   p99 ms   × trivial (same run)');
for (const n of names) {
  const m = (f: (s: Stats) => number) => median(all.map((a) => f(a[n]!)));
  const ratio = all[0]!.trivial ? median(all.map((a) => a[n]!.rps / a.trivial!.rps)) : NaN;
  console.log(`${n.padEnd(10)} ${String(m((s) => s.rps)).padStart(7)} ${m((s) => s.p50).toFixed(1).padStart(8)} ${m((s) => s.p99).toFixed(1).padStart(8)}   ${ratio.toFixed(3)}`);
}
console.log(JSON.stringify({ command: process.argv.slice(1).join(' '), runs: all }));
