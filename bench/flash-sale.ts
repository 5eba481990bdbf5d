/**
 * Flash-sale benchmark: `npm run bench:flash-sale [-- --connections 200 --duration 10 --runs 3 --quick --profile]`.
 *
 * One run = a fresh Postgres database, the service as a child process (NODE_ENV=production,
 * API keys, priority rules in force, Redis for events), then, with the same load generator:
 *   trivial   baseline (a): a trivial Hono JSON route in a child process configured like the service
 *   direct-pg baseline (b): one autocommit guarded CTE (UPDATE … WHERE available ≥ 1 + INSERT) per reservation, no HTTP
 *   reference upper reference (c): bench/reference-writer.ts, a minimal batched 3-row writer on the same
 *             HTTP stack (no rules), hot SKU, same load generator; its invariant is checked after the run
 *   hot       C connections reserving 1 unit of one hot SKU (1,000,000 units) for D seconds
 *   sold-out  the same against a SKU with nothing available (the 409 path)
 *   fixed-*   an open loop at a fixed offered rate (default 5,000/s) on a hot SKU with stock, and sold out
 *   sell-out  1,000 units vs 20× the demand (2 % of requests are idempotent retries of earlier ones)
 *   sell-out-2p  the same with two service processes against the one database
 * and afterwards the invariants are checked in Postgres (zero oversell, reserved == Σ allocations,
 * units sold == stock when demand exceeded it, one reservation.created event per reservation,
 * reservations == first 201 answers). Prints progress, a table and a JSON summary; exits 1 if an
 * invariant fails. `--quick` (≤ 60 s) runs only the correctness scenarios at small scale (CI).
 * Writes the JSON (`--json FILE`, default bench/results/flash-sale-<UTC time>.json) and, next to
 * it, a self-contained HTML report (bench/lib/report.ts).
 */
import { mkdirSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { checkInvariants, createBenchDatabase, type InvariantReport, pickChannel, putRules, seedPositions } from './lib/db.js';
import { closedLoop, closedLoopFn, median, openLoop, type Req, type Stats } from './lib/load.js';
import { cpuDelta, cpuSecondsOf, postgresCpu } from './lib/cpu.js';
import { ADMIN_URL } from './lib/db.js';
import { ADMIN_KEY, OMS_KEY, ROOT, startReference, startService, startTrivial } from './lib/proc.js';
import { loadAverage, resultPaths, writeResults } from './lib/results.js';

export interface FlashSaleOptions {
  connections: number;
  durationMs: number;
  quick: boolean;
  rate: number;
  /** units in the sell-out runs (demand is 20×) */
  sellOutStock: number;
  hotStock: number;
  coldSkus: number;
  pgConnections: number;
  redisUrl?: string | undefined;
  profileDir?: string | undefined;
  /** extra service environment (e.g. ATP_DB_POOL_MAX) */
  serviceEnv?: Record<string, string>;
  quiet?: boolean;
  /** run only these scenarios (default: all) */
  only?: string[] | undefined;
  log?: (s: string) => void;
}

export interface FlashSaleResult {
  startedAt: string;
  /** os.loadavg() at the start and the end of the run (the box is shared) */
  loadAvg?: { start: number[]; end: number[] };
  options: Omit<FlashSaleOptions, 'log'>;
  scenarios: Record<string, Stats>;
  ratios: Record<string, number>;
  /** how the hot scenario's batches were written (atp_allocator_guarded_total deltas) and their mean size (atp_batch_size) */
  hotBatches?: { paths: Record<string, number>; batches: number; meanSize: number } | undefined;
  /** CPU-µs per successful reservation in the hot scenario: the service process and the Postgres backends serving it (robust to other load on the machine) */
  cpu?: { serviceUsPerReservation: number; postgresUsPerReservation: number; trivialUsPerRequest?: number; soldOutUsPerRequest?: number; referenceUsPerReservation?: number } | undefined;
  invariants: InvariantReport;
}

const omsHeaders = (key: string) => ({ authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json', 'idempotency-key': key });

/** A reservation request generator for one SKU; `replayShare` of requests resend an earlier one exactly. */
function reservations(tag: string, sku: string, replayShare = 0): (i: number) => Req {
  const sent: Req[] = [];
  let seed = 0x9e3779b9 ^ tag.length;
  const rnd = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  return (i) => {
    if (replayShare > 0 && sent.length > 10 && rnd() < replayShare) return sent[Math.floor(rnd() * sent.length)]!;
    const key = `${tag}-${i}`;
    const req: Req = {
      path: '/v1/reservations',
      method: 'POST',
      headers: omsHeaders(key),
      body: JSON.stringify({ orderRef: `o-${key}`, channel: pickChannel(rnd()), lines: [{ sku, qty: 1 }], holdSeconds: 600 }),
    };
    if (replayShare > 0) sent.push(req);
    return req;
  };
}

export async function runFlashSale(o: FlashSaleOptions): Promise<FlashSaleResult> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const startedAt = new Date().toISOString();
  const load0 = loadAverage();
  const tag = `r${Date.now().toString(36)}`;
  const db = await createBenchDatabase();
  log(`database ${db.name}`);
  const scenarios: Record<string, Stats> = {};
  const expectations: { sku: string; created: number; soldOut?: boolean; stock?: number }[] = [];
  const env = { databaseUrl: db.url, redisUrl: o.redisUrl, extra: o.serviceEnv };
  const C = o.connections;
  const D = o.durationMs;
  const quiet = o.quiet;
  const want = (name: string) => !o.only || o.only.includes(name);
  let invariants: InvariantReport;
  let cpu: FlashSaleResult['cpu'];
  let hotBatches: FlashSaleResult['hotBatches'];
  let trivialCpu: number | undefined;
  let soldOutCpu: number | undefined;
  let referenceCpu: number | undefined;
  let referenceFailures: string[] = [];
  const svc = await startService(env, 'service-a', o.profileDir);
  try {
    await putRules(svc.url);
    const fixedStock = o.quick ? 0 : Math.ceil((o.rate * D) / 1000) + 1000;
    const positions = [
      { sku: 'HOT-1', location: 'DC1', onHand: o.hotStock },
      { sku: 'SOLD-1', location: 'DC1', onHand: 0 },
      { sku: 'SELL-1', location: 'DC1', onHand: o.sellOutStock },
      { sku: 'SELL-2', location: 'DC1', onHand: o.sellOutStock },
      ...(fixedStock ? [{ sku: 'FIX-1', location: 'DC1', onHand: fixedStock }] : []),
      ...Array.from({ length: o.coldSkus }, (_, i) => ({ sku: `COLD-${String(i).padStart(5, '0')}`, location: i % 3 === 0 ? 'DC2' : 'DC1', onHand: 50 + (i % 100) })),
    ];
    log(`seeding ${positions.length} positions through the API`);
    await seedPositions(svc.url, positions);

    if (!o.quick && want('trivial')) {
      log(`baseline (a): trivial Hono route, ${C} connections, ${D / 1000}s`);
      const trivial = await startTrivial('trivial', o.profileDir);
      try {
        const t0 = cpuSecondsOf(trivial.pid);
        scenarios.trivial = await closedLoop({ label: 'trivial', url: trivial.url, connections: C, durationMs: D, next: reservations(`${tag}-t`, 'TRIVIAL'), quiet });
        const t1 = cpuSecondsOf(trivial.pid);
        if (t0 !== undefined && t1 !== undefined) trivialCpu = Math.round(((t1 - t0) * 1e6) / scenarios.trivial.requests);
      } finally {
        await trivial.stop();
      }
    }
    if (!o.quick && want('direct-pg')) {
      log(`baseline (b): direct Postgres, ${C} workers over ${o.pgConnections} connections, ${D / 1000}s`);
      scenarios['direct-pg'] = await directPostgres(db.url, C, o.pgConnections, D, quiet);
    }
    if (!o.quick && want('reference')) {
      log(`reference (c): batched 3-row writer, ${C} connections, ${D / 1000}s`);
      const ref = await startReference(db.url, 'reference', o.profileDir);
      try {
        await fetch(`${ref.url}/ref/positions/REF-1`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ onHand: o.hotStock }) });
        const r0 = cpuSecondsOf(ref.pid);
        scenarios.reference = await closedLoop({ label: 'reference', url: ref.url, connections: C, durationMs: D, next: reservations(`${tag}-ref`, 'REF-1'), quiet });
        const r1 = cpuSecondsOf(ref.pid);
        if (r0 !== undefined && r1 !== undefined && scenarios.reference.created > 0) referenceCpu = Math.round(((r1 - r0) * 1e6) / scenarios.reference.created);
      } finally {
        await ref.stop();
      }
      referenceFailures = await checkReference(db.url, scenarios.reference.created);
    }

    if (want('hot')) {
    log(`hot SKU: ${C} connections, ${D / 1000}s, ${o.hotStock} units`);
    const m0 = await batchMetrics(svc.url);
    const pg0 = await postgresCpu(ADMIN_URL, db.name);
    const s0 = cpuSecondsOf(svc.pid);
    scenarios.hot = await closedLoop({ label: 'hot', url: svc.url, connections: C, durationMs: D, next: reservations(`${tag}-h`, 'HOT-1'), quiet });
    const s1 = cpuSecondsOf(svc.pid);
    const pg1 = await postgresCpu(ADMIN_URL, db.name);
    const m1 = await batchMetrics(svc.url);
    const paths = Object.fromEntries(Object.entries(m1.paths).map(([k, v]) => [k, v - (m0.paths[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
    const batches = m1.count - m0.count;
    hotBatches = { paths, batches, meanSize: batches > 0 ? Math.round(((m1.sum - m0.sum) / batches) * 10) / 10 : 0 };
    log(`hot batches: ${batches}, mean size ${hotBatches.meanSize}, paths ${JSON.stringify(paths)}`);
    if (s0 !== undefined && s1 !== undefined && scenarios.hot.created > 0) {
      cpu = {
        serviceUsPerReservation: Math.round(((s1 - s0) * 1e6) / scenarios.hot.created),
        postgresUsPerReservation: Math.round((cpuDelta(pg0.byPid, pg1.byPid) * 1e6) / scenarios.hot.created),
      };
    }
    expectations.push({ sku: 'HOT-1', created: scenarios.hot.created, stock: o.hotStock, soldOut: false });
    }
    if (want('sold-out')) {
    log(`sold-out path: ${C} connections, ${D / 1000}s`);
    const so0 = cpuSecondsOf(svc.pid);
    scenarios['sold-out'] = await closedLoop({ label: 'sold-out', url: svc.url, connections: C, durationMs: D, next: reservations(`${tag}-s`, 'SOLD-1'), quiet });
    const so1 = cpuSecondsOf(svc.pid);
    if (so0 !== undefined && so1 !== undefined && scenarios['sold-out'].requests > 0) soldOutCpu = Math.round(((so1 - so0) * 1e6) / scenarios['sold-out'].requests);
    expectations.push({ sku: 'SOLD-1', created: scenarios['sold-out'].created, stock: 0 });
    }

    if (!o.quick && want('fixed')) {
      log(`fixed rate ${o.rate}/s on a hot SKU with stock, ${D / 1000}s`);
      scenarios['fixed-hot'] = await openLoop({ label: 'fixed-hot', url: svc.url, connections: C, rate: o.rate, durationMs: D, next: reservations(`${tag}-f`, 'FIX-1'), quiet });
      expectations.push({ sku: 'FIX-1', created: scenarios['fixed-hot'].created, stock: fixedStock });
      log(`fixed rate ${o.rate}/s on the sold-out SKU, ${D / 1000}s`);
      scenarios['fixed-sold-out'] = await openLoop({ label: 'fixed-sold-out', url: svc.url, connections: C, rate: o.rate, durationMs: D, next: reservations(`${tag}-fs`, 'SOLD-1'), quiet });
      expectations.push({ sku: 'SOLD-1', created: scenarios['fixed-sold-out'].created, stock: 0 });
    }

    const demand = o.sellOutStock * 20;
    if (want('sell-out')) {
    log(`sell-out: ${o.sellOutStock} units vs ${demand} requests (2% idempotent retries), ${C} connections`);
    scenarios['sell-out'] = await closedLoop({ label: 'sell-out', url: svc.url, connections: C, total: demand, next: reservations(`${tag}-so`, 'SELL-1', 0.02), quiet });
    expectations.push({ sku: 'SELL-1', created: scenarios['sell-out'].created, stock: o.sellOutStock, soldOut: true });
    }
    if (want('sell-out-2p')) {
    log(`two-process sell-out: ${o.sellOutStock} units vs ${demand} requests over two service processes`);
    const svcB = await startService(env, 'service-b');
    try {
      await putRules(svcB.url);
      const gen = reservations(`${tag}-2p`, 'SELL-2', 0.02);
      const half = Math.max(1, C >> 1);
      const [a, b] = await Promise.all([
        closedLoop({ label: 'sell-out-2p:a', url: svc.url, connections: half, total: demand >> 1, next: (i) => gen(2 * i), quiet }),
        closedLoop({ label: 'sell-out-2p:b', url: svcB.url, connections: half, total: demand >> 1, next: (i) => gen(2 * i + 1), quiet }),
      ]);
      scenarios['sell-out-2p'] = mergeStats('sell-out-2p', a, b);
      expectations.push({ sku: 'SELL-2', created: a.created + b.created, stock: o.sellOutStock, soldOut: true });
    } finally {
      await svcB.stop();
    }
    }
  } finally {
    await svc.stop();
  }
  invariants = await checkInvariants(db.url, expectations);
  if (referenceFailures.length > 0) invariants = { ...invariants, ok: false, failures: [...invariants.failures, ...referenceFailures] };
  await db.drop();
  const ratios: Record<string, number> = {};
  const r2 = (x: number) => Math.round(x * 100) / 100;
  if (scenarios.trivial && scenarios.hot) ratios.hotVsTrivial = r2(scenarios.hot.createdPerSec / scenarios.trivial.rps);
  if (scenarios['direct-pg'] && scenarios.hot) ratios.hotVsDirectPg = r2(scenarios.hot.createdPerSec / scenarios['direct-pg'].createdPerSec);
  if (scenarios.reference && scenarios.hot) ratios.hotVsReference = r2(scenarios.hot.createdPerSec / scenarios.reference.createdPerSec);
  if (scenarios.reference && scenarios.trivial) ratios.referenceVsTrivial = r2(scenarios.reference.createdPerSec / scenarios.trivial.rps);
  if (scenarios.trivial && scenarios['sold-out']) ratios.soldOutVsTrivial = r2(scenarios['sold-out'].rps / scenarios.trivial.rps);
  const { log: _l, ...options } = o;
  if (cpu && trivialCpu !== undefined) cpu.trivialUsPerRequest = trivialCpu;
  if (cpu && soldOutCpu !== undefined) cpu.soldOutUsPerRequest = soldOutCpu;
  if (cpu && referenceCpu !== undefined) cpu.referenceUsPerReservation = referenceCpu;
  return { startedAt, loadAvg: { start: load0, end: loadAverage() }, options, scenarios, ratios, cpu, hotBatches, invariants };
}

/** The allocator's batch counters from GET /metrics (Prometheus text): batches by path, and the batch-size histogram's count and sum. */
async function batchMetrics(url: string): Promise<{ paths: Record<string, number>; count: number; sum: number }> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).text();
  const paths: Record<string, number> = {};
  for (const m of text.matchAll(/^atp_allocator_guarded(?:_total)?\{[^}]*outcome="([^"]+)"[^}]*\} ([0-9.e+]+)/gm)) paths[m[1]!] = Number(m[2]);
  const num = (name: string) => Number(/^atp_batch_size_(count|sum)\b.*? ([0-9.e+]+)$/m.test(text) ? (text.match(new RegExp(`^atp_batch_size_${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm'))?.[1] ?? 0) : 0);
  return { paths, count: num('count'), sum: num('sum') };
}

function mergeStats(label: string, a: Stats, b: Stats): Stats {
  const statuses: Record<string, number> = { ...a.statuses };
  for (const [k, v] of Object.entries(b.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const seconds = Math.max(a.seconds, b.seconds);
  return {
    label,
    requests: a.requests + b.requests,
    seconds,
    rps: Math.round((a.requests + b.requests) / seconds),
    statuses,
    created: a.created + b.created,
    replayed: a.replayed + b.replayed,
    createdPerSec: Math.round((a.created + b.created) / seconds),
    okPerSec: Math.round(((a.okPerSec * a.seconds) + (b.okPerSec * b.seconds)) / seconds),
    timeline: sumTimelines(a.timeline, b.timeline),
    p50: Math.max(a.p50, b.p50),
    p95: Math.max(a.p95, b.p95),
    p99: Math.max(a.p99, b.p99),
    max: Math.max(a.max, b.max),
    errorRate: Math.round(((a.errorRate * a.requests + b.errorRate * b.requests) / (a.requests + b.requests)) * 100) / 100,
  };
}

/** Two processes' timelines, second by second. */
function sumTimelines(a: Stats['timeline'], b: Stats['timeline']): Stats['timeline'] {
  if (!a || !b) return a ?? b;
  const add = (x: number[], y: number[]) => Array.from({ length: Math.max(x.length, y.length) }, (_, i) => (x[i] ?? 0) + (y[i] ?? 0));
  return { answers: add(a.answers, b.answers), ok: add(a.ok, b.ok) };
}

/**
 * Baseline (b): the straightforward implementation done well — per reservation ONE autocommit
 * statement, a guarded single-row UPDATE and the INSERT in one CTE (no BEGIN/COMMIT round trips),
 * from C workers over a pool of `conns` connections (the shared Postgres allows ~100 connections
 * in all), synchronous_commit on, no HTTP.
 */
async function directPostgres(url: string, workers: number, conns: number, durationMs: number, quiet?: boolean): Promise<Stats> {
  const sql = postgres(url, { max: conns, onnotice: () => {} });
  try {
    await sql`create table if not exists bench_direct_stock (sku text primary key, on_hand int not null, reserved int not null check (reserved <= on_hand))`;
    await sql`create table if not exists bench_direct_reservations (id bigserial primary key, sku text not null, channel text not null, qty int not null, created_at timestamptz not null default now())`;
    await sql`insert into bench_direct_stock values ('HOT-D', 100000000, 0) on conflict (sku) do nothing`;
    return await closedLoopFn({
      label: 'direct-pg',
      workers,
      durationMs,
      quiet,
      fn: async (i) => {
        const r = await sql`with u as (update bench_direct_stock set reserved = reserved + 1 where sku = 'HOT-D' and on_hand - reserved >= 1 returning 1)
          insert into bench_direct_reservations (sku, channel, qty) select 'HOT-D', ${pickChannel((i % 100) / 100)}, 1 from u returning 1`;
        return r.length === 1 ? 201 : 409;
      },
    });
  } finally {
    await sql.end();
  }
}

/** The reference writer's invariant: reserved == Σ its reservations == the 201s it answered, ≤ on hand. */
async function checkReference(url: string, created: number): Promise<string[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [row] = await sql<{ on_hand: number; reserved: number; sum: number; events: number }[]>`
      select p.on_hand, p.reserved, (select coalesce(sum(qty), 0)::int from ref_reservations where sku = p.sku) as sum,
             (select count(*)::int from ref_outbox) as events
      from ref_positions p where p.sku = 'REF-1'`;
    if (!row) return ['reference: no position REF-1'];
    const failures: string[] = [];
    if (row.reserved !== row.sum) failures.push(`reference: reserved ${row.reserved} != Σ reservations ${row.sum}`);
    if (row.reserved > row.on_hand) failures.push(`reference: oversold (${row.reserved} > ${row.on_hand})`);
    if (row.sum !== created) failures.push(`reference: ${created} answered 201 but ${row.sum} stored`);
    if (row.events !== row.sum) failures.push(`reference: ${row.events} outbox rows for ${row.sum} reservations`);
    return failures;
  } finally {
    await sql.end();
  }
}

// ---------------------------------------------------------------- CLI

const METRICS: [string, (s: Stats) => number][] = [
  ['ok/s', (s) => s.createdPerSec],
  ['answers/s', (s) => s.rps],
  ['p50 ms', (s) => s.p50],
  ['p95 ms', (s) => s.p95],
  ['p99 ms', (s) => s.p99],
  ['max ms', (s) => s.max],
];

export function printTable(results: FlashSaleResult[], out: (s: string) => void = console.log) {
  const names = Object.keys(results[0]!.scenarios);
  const rows: string[][] = [['scenario', ...METRICS.map(([m]) => m), 'statuses (last run)']];
  for (const n of names) {
    const runs = results.map((r) => r.scenarios[n]).filter((s): s is Stats => !!s);
    rows.push([n, ...METRICS.map(([, f]) => String(Math.round(median(runs.map(f)) * 100) / 100)), Object.entries(runs.at(-1)!.statuses).map(([k, v]) => `${k}:${v}`).join(' ')]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  out(results.length > 1 ? `medians of ${results.length} runs` : '1 run');
  for (const r of rows) out(r.map((c, i) => (i === 0 || i === r.length - 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
  const ratioNames = Object.keys(results[0]!.ratios);
  for (const k of ratioNames) out(`${k}: ${median(results.map((r) => r.ratios[k] ?? 0))}`);
  const cpuRuns = results.map((r) => r.cpu).filter((c) => !!c);
  if (cpuRuns.length) {
    const triv = cpuRuns.flatMap((c) => (c.trivialUsPerRequest !== undefined ? [c.trivialUsPerRequest] : []));
    const so = cpuRuns.flatMap((c) => (c.soldOutUsPerRequest !== undefined ? [c.soldOutUsPerRequest] : []));
    const ref = cpuRuns.flatMap((c) => (c.referenceUsPerReservation !== undefined ? [c.referenceUsPerReservation] : []));
    out(
      `hot CPU per reservation: service ${median(cpuRuns.map((c) => c.serviceUsPerReservation))} µs, Postgres ${median(cpuRuns.map((c) => c.postgresUsPerReservation))} µs` +
        (so.length ? `; sold-out answer ${median(so)} µs` : '') +
        (ref.length ? `; reference writer ${median(ref)} µs per reservation` : '') +
        (triv.length ? `; trivial route ${median(triv)} µs per request` : ''),
    );
  }
  out(`invariants: ${results.every((r) => r.invariants.ok) ? 'all hold in every run' : results.flatMap((r) => r.invariants.failures).join('; ')}`);
}

export function medians(results: FlashSaleResult[]) {
  const names = Object.keys(results[0]!.scenarios);
  return {
    scenarios: Object.fromEntries(
      names.map((n) => {
        const runs = results.map((r) => r.scenarios[n]).filter((s): s is Stats => !!s);
        return [n, { createdPerSec: median(runs.map((s) => s.createdPerSec)), rps: median(runs.map((s) => s.rps)), p50: median(runs.map((s) => s.p50)), p95: median(runs.map((s) => s.p95)), p99: median(runs.map((s) => s.p99)), max: median(runs.map((s) => s.max)) }];
      }),
    ),
    ratios: Object.fromEntries(Object.keys(results[0]!.ratios).map((k) => [k, median(results.map((r) => r.ratios[k] ?? 0))])),
    cpu: results.some((r) => r.cpu)
      ? {
          serviceUsPerReservation: median(results.flatMap((r) => (r.cpu ? [r.cpu.serviceUsPerReservation] : []))),
          postgresUsPerReservation: median(results.flatMap((r) => (r.cpu ? [r.cpu.postgresUsPerReservation] : []))),
        }
      : undefined,
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', short: 'c' },
      duration: { type: 'string', short: 'd' },
      runs: { type: 'string' },
      rate: { type: 'string' },
      quick: { type: 'boolean' },
      profile: { type: 'boolean' },
      json: { type: 'string' },
      'pg-connections': { type: 'string' },
      'cold-skus': { type: 'string' },
      redis: { type: 'string' },
      only: { type: 'string' },
    },
  });
  const env = process.env;
  const quick = values.quick ?? env.BENCH_QUICK === '1';
  const num = (v: string | undefined, e: string | undefined, d: number) => Number(v ?? e ?? d);
  const runs = num(values.runs, env.BENCH_RUNS, 1);
  const profileDir = values.profile || env.BENCH_PROFILE === '1' ? path.join(ROOT, 'bench/profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const opts: FlashSaleOptions = {
    connections: num(values.connections, env.BENCH_CONNECTIONS, quick ? 50 : 200),
    durationMs: num(values.duration, env.BENCH_DURATION, quick ? 2 : 10) * 1000,
    quick,
    rate: num(values.rate, env.BENCH_RATE, 5000),
    sellOutStock: quick ? 200 : 1000,
    hotStock: 1_000_000, // at least twice the demand of any throughput run (the reference writer reaches ~10k/s)
    coldSkus: num(values['cold-skus'], env.BENCH_COLD_SKUS, quick ? 50 : 1000),
    pgConnections: num(values['pg-connections'], env.BENCH_PG_CONNECTIONS, 40),
    redisUrl: values.redis ?? env.BENCH_REDIS_URL ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    profileDir,
    only: (values.only ?? env.BENCH_ONLY)?.split(',').map((s) => s.trim()),
  };
  const results: FlashSaleResult[] = [];
  for (let r = 1; r <= runs; r++) {
    process.stderr.write(`\n=== run ${r}/${runs} (${quick ? 'quick' : 'full'}, ${opts.connections} connections) ===\n`);
    results.push(await runFlashSale(opts));
  }
  console.log('');
  printTable(results);
  const notes = [
    `${opts.connections} connections, ${opts.durationMs / 1000} s per scenario, fixed rate ${opts.rate}/s offered; hot SKU ${opts.hotStock.toLocaleString('en-US')} units.`,
    "Ratios: the hot scenario's successful reservations/s (sold-out: answers/s) ÷ the trivial Hono route's answers/s, or ÷ the direct-Postgres baseline / the reference writer, same run.",
  ];
  const summary = { machine: machine(), command: `npm run bench:flash-sale -- ${process.argv.slice(2).join(' ')}`.trim(), notes, medians: medians(results), runs: results };
  console.log(JSON.stringify(summary, null, 2));
  const files = writeResults(resultPaths(quick ? 'flash-sale-quick' : 'flash-sale', values.json), summary, {
    title: `ATP service — flash sale${quick ? ' (quick)' : ''}`,
    command: summary.command,
    machine: summary.machine,
    runs: results,
    targets: FLASH_SALE_TARGETS,
    notes,
  });
  console.error(`results: ${path.relative(process.cwd(), files.json)}\nreport:  ${path.relative(process.cwd(), files.html)}`);
  if (profileDir) console.error(`CPU profiles in ${profileDir} (open in Chrome DevTools or speedscope)`);
  process.exit(results.every((r) => r.invariants.ok) ? 0 : 1);
}

/** Issue 14's targets for the flash-sale ratios (met when ≥). */
export const FLASH_SALE_TARGETS: Record<string, number> = { hotVsTrivial: 0.5, hotVsReference: 0.9, soldOutVsTrivial: 0.8 };

export function machine() {
  const c = cpus();
  return { node: process.version, platform: process.platform, arch: process.arch, cpus: `${c.length} × ${c[0]?.model ?? '?'}`, memGiB: Math.round(totalmem() / 2 ** 30), date: new Date().toISOString() };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
