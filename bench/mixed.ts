/**
 * Mixed-workload benchmark: `npm run bench:mixed [-- --connections 100 --duration 20 --skus 10000 --runs 3 --profile]`.
 *
 * A fresh database, the service as a child process, SKUS SKUs (default 10,000) seeded through the
 * API with Zipf-distributed popularity (exponent --zipf, default 1.0), priority rules in force, then
 * C connections each looping over: 80 % ATP checks (GET /v1/atp for the order's SKUs and channel),
 * 15 % reservations (orders of 1–5 distinct SKUs, 1–3 units each, Idempotency-Key), 5 % releases
 * of a reservation made earlier. Reports orders/s (reservations created per second), operations/s
 * and latency per operation, then checks the invariants in Postgres (zero oversell, reserved ==
 * Σ allocations, one event per reservation, reservations == first 201 answers).
 */
import { cpus } from 'node:os';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Pool } from 'undici';
import { checkInvariants, createBenchDatabase, type InvariantReport, pickChannel, putRules, seedPositions } from './lib/db.js';
import { median } from './lib/load.js';
import { OMS_KEY, startService } from './lib/proc.js';

export interface MixedOptions {
  connections: number;
  durationMs: number;
  skus: number;
  zipf: number;
  redisUrl?: string | undefined;
  quiet?: boolean;
  /** write a V8 CPU profile of the service into this directory (`--profile`: bench/profiles) */
  profileDir?: string | undefined;
}

interface OpStats {
  count: number;
  perSec: number;
  statuses: Record<string, number>;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface MixedResult {
  startedAt: string;
  options: MixedOptions;
  ordersPerSec: number;
  opsPerSec: number;
  ops: Record<'atp' | 'reserve' | 'release', OpStats>;
  invariants: InvariantReport;
}

/** Zipf(s) over ranks 1..n: P(k) ∝ 1/k^s; sample by binary search in the CDF. */
export function zipfSampler(n: number, s: number, rnd: () => number): () => number {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let k = 1; k <= n; k++) cdf[k - 1] = acc += 1 / k ** s;
  for (let k = 0; k < n; k++) cdf[k]! /= acc;
  return () => {
    const u = rnd();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const pct = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : 0);

export async function runMixed(o: MixedOptions): Promise<MixedResult> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const startedAt = new Date().toISOString();
  const db = await createBenchDatabase();
  const svc = await startService({ databaseUrl: db.url, redisUrl: o.redisUrl }, 'service-mixed', o.profileDir);
  const skuName = (k: number) => `Z-${String(k).padStart(5, '0')}`;
  const lat = { atp: [] as number[], reserve: [] as number[], release: [] as number[] };
  const statuses = { atp: new Map<number, number>(), reserve: new Map<number, number>(), release: new Map<number, number>() };
  let created = 0;
  let seconds = 0;
  try {
    await putRules(svc.url);
    // stock by popularity rank: popular SKUs hold more, the tail a little (some run out: 409s are expected)
    const positions = Array.from({ length: o.skus }, (_, k) => ({ sku: skuName(k), location: k % 4 === 0 ? 'DC2' : 'DC1', onHand: Math.max(5, Math.round(20_000 / (k + 1))) }));
    log(`seeding ${positions.length} SKUs through the API`);
    await seedPositions(svc.url, positions, 32);
    const rnd = rng(0xc0ffee);
    const zipf = zipfSampler(o.skus, o.zipf, rnd);
    const pool = new Pool(svc.url, { connections: o.connections, pipelining: 1, keepAliveTimeout: 60_000 });
    const held: string[] = [];
    const t0 = performance.now();
    const end = t0 + o.durationMs;
    let n = 0;
    let lastN = 0;
    const progress = setInterval(() => {
      if (!o.quiet) log(`  [mixed] ${((performance.now() - t0) / 1000).toFixed(1)}s ${n} ops (${n - lastN}/s), ${created} orders`);
      lastN = n;
    }, 1000);
    const orderSkus = () => {
      const lines = 1 + Math.floor(rnd() * 5);
      const set = new Set<number>();
      while (set.size < lines) set.add(zipf());
      return [...set].map(skuName);
    };
    const worker = async () => {
      while (performance.now() < end) {
        const i = n++;
        const r = rnd();
        const channel = pickChannel(rnd());
        let op: 'atp' | 'reserve' | 'release' = r < 0.8 ? 'atp' : r < 0.95 ? 'reserve' : 'release';
        if (op === 'release' && held.length === 0) op = 'atp';
        const t = performance.now();
        let status = 0;
        try {
          if (op === 'atp') {
            const qs = orderSkus().map((s) => `sku=${s}`).join('&');
            const res = await pool.request({ path: `/v1/atp?${qs}&channel=${channel}`, method: 'GET', headers: { authorization: `Bearer ${OMS_KEY}` } });
            status = res.statusCode;
            await res.body.dump();
          } else if (op === 'reserve') {
            const key = `mx-${i}`;
            const body = { orderRef: `o-${key}`, channel, lines: orderSkus().map((sku) => ({ sku, qty: 1 + Math.floor(rnd() * 3) })), holdSeconds: 600 };
            const res = await pool.request({ path: '/v1/reservations', method: 'POST', headers: { authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
            status = res.statusCode;
            const text = await res.body.text();
            if (status === 201) {
              created++;
              held.push((JSON.parse(text) as { id: string }).id);
            }
          } else {
            const id = held.splice(Math.floor(rnd() * held.length), 1)[0]!;
            const res = await pool.request({ path: `/v1/reservations/${id}/release`, method: 'POST', headers: { authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json', 'idempotency-key': `rel-${i}` }, body: '{}' });
            status = res.statusCode;
            await res.body.dump();
          }
        } catch {
          status = 0;
        }
        lat[op].push(performance.now() - t);
        statuses[op].set(status, (statuses[op].get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: o.connections }, worker));
    seconds = (performance.now() - t0) / 1000;
    clearInterval(progress);
    await pool.close();
  } finally {
    await svc.stop();
  }
  const [reservations] = await (async () => {
    const { default: postgres } = await import('postgres');
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      return await sql`select count(*)::int as n from reservations`;
    } finally {
      await sql.end();
    }
  })();
  const invariants = await checkInvariants(db.url, []);
  if (reservations!.n !== created) {
    invariants.ok = false;
    invariants.failures.push(`${reservations!.n} reservations in Postgres but ${created} 201 answers`);
  }
  await db.drop();
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const ops = Object.fromEntries(
    (['atp', 'reserve', 'release'] as const).map((k) => {
      const s = Float64Array.from(lat[k]).sort();
      const a = Array.from(s);
      return [k, { count: a.length, perSec: Math.round(a.length / seconds), statuses: Object.fromEntries([...statuses[k]].map(([c, v]) => [String(c), v])), p50: r2(pct(a, 50)), p95: r2(pct(a, 95)), p99: r2(pct(a, 99)), max: r2(a.at(-1) ?? 0) }];
    }),
  ) as MixedResult['ops'];
  const total = ops.atp.count + ops.reserve.count + ops.release.count;
  return { startedAt, options: o, ordersPerSec: Math.round(created / seconds), opsPerSec: Math.round(total / seconds), ops, invariants };
}

async function main() {
  const { values } = parseArgs({
    options: { connections: { type: 'string', short: 'c' }, duration: { type: 'string', short: 'd' }, skus: { type: 'string' }, zipf: { type: 'string' }, runs: { type: 'string' }, redis: { type: 'string' }, profile: { type: 'boolean' } },
  });
  const env = process.env;
  const o: MixedOptions = {
    connections: Number(values.connections ?? env.BENCH_CONNECTIONS ?? 100),
    durationMs: Number(values.duration ?? env.BENCH_DURATION ?? 20) * 1000,
    skus: Number(values.skus ?? env.BENCH_SKUS ?? 10_000),
    zipf: Number(values.zipf ?? env.BENCH_ZIPF ?? 1.0),
    redisUrl: values.redis ?? env.BENCH_REDIS_URL ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    profileDir: values.profile ? path.join(process.cwd(), 'bench/profiles') : undefined,
  };
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  const runs = Number(values.runs ?? env.BENCH_RUNS ?? 1);
  const results: MixedResult[] = [];
  for (let r = 1; r <= runs; r++) {
    process.stderr.write(`\n=== mixed run ${r}/${runs}: ${o.skus} SKUs, Zipf ${o.zipf}, ${o.connections} connections, ${o.durationMs / 1000}s ===\n`);
    results.push(await runMixed(o));
  }
  const m = (f: (r: MixedResult) => number) => median(results.map(f));
  console.log(`\n${runs > 1 ? `medians of ${runs} runs` : '1 run'}`);
  console.log(`orders/s ${m((r) => r.ordersPerSec)}   operations/s ${m((r) => r.opsPerSec)}`);
  console.log('op        ops/s   p50 ms   p95 ms   p99 ms   max ms  statuses (last run)');
  for (const k of ['atp', 'reserve', 'release'] as const) {
    const last = results.at(-1)!.ops[k];
    console.log(
      `${k.padEnd(8)} ${String(m((r) => r.ops[k].perSec)).padStart(6)} ${String(m((r) => r.ops[k].p50)).padStart(8)} ${String(m((r) => r.ops[k].p95)).padStart(8)} ${String(m((r) => r.ops[k].p99)).padStart(8)} ${String(m((r) => r.ops[k].max)).padStart(8)}  ${Object.entries(last.statuses).map(([s, v]) => `${s}:${v}`).join(' ')}`,
    );
  }
  const ok = results.every((r) => r.invariants.ok);
  console.log(`invariants: ${ok ? 'all hold in every run' : results.flatMap((r) => r.invariants.failures).join('; ')}`);
  const c = cpus();
  console.log(
    JSON.stringify(
      {
        machine: { node: process.version, cpus: `${c.length} × ${c[0]?.model ?? '?'}`, date: new Date().toISOString() },
        command: `npm run bench:mixed -- ${process.argv.slice(2).join(' ')}`.trim(),
        medians: { ordersPerSec: m((r) => r.ordersPerSec), opsPerSec: m((r) => r.opsPerSec) },
        runs: results,
      },
      null,
      2,
    ),
  );
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
