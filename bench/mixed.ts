/**
 * Reads, promise and mixed-workload benchmark (issue 15's "before/after" figures):
 * `npm run bench:mixed [-- --runs 3 --connections 100 --read-connections 64 --duration 10 --skus 10000 --only reads,promise,mixed --json FILE --profile]`.
 *
 * One run = a fresh database, the service as a child process, SKUS SKUs (default 10,000) seeded
 * through the API (stock by Zipf popularity rank), priority rules in force, then, with the same
 * load generator (closed loop, C keep-alive connections):
 *   trivial-N         the trivial Hono GET route (bench/trivial-server.ts) at each connection count used below
 *   atp-K-uniform     GET /v1/atp for K = 1, 10, 100 distinct SKUs and a channel, SKUs drawn uniformly …
 *   atp-K-zipf        … or by Zipf popularity (exponent --zipf, default 1.0), read connections (64)
 *   promise-3         POST /v1/promise, 3 distinct Zipf-drawn lines (read-only), read connections
 *   mixed             80 % ATP checks (GET /v1/atp for an order's 1–5 SKUs and a channel), 15 %
 *                     reservations (orders of 1–5 distinct Zipf SKUs, 1–3 units each, Idempotency-Key),
 *                     5 % releases of a reservation made earlier; mixed connections (100)
 * Reports 2xx answers/s per scenario, orders/s (reservations created) and operations/s for the
 * mixed one, latency percentiles, and ratios to the trivial route measured in the same run at the
 * same connection count. Afterwards, from Postgres: the reads changed nothing, zero oversell,
 * reserved == Σ allocations, one event per reservation, reservations == first 201 answers, and GET
 * /v1/atp agrees with the positions table for the most popular and some random SKUs. Writes the
 * JSON and a self-contained HTML report (bench/lib/report.ts) side by side in bench/results/.
 */
import { cpus } from 'node:os';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import postgres from 'postgres';
import { Pool } from 'undici';
import { checkInvariants, createBenchDatabase, type InvariantReport, pickChannel, putRules, seedPositions } from './lib/db.js';
import { closedLoop, median, newRecorder, progress, record, type Req, type Stats, summarise } from './lib/load.js';
import { OMS_KEY, ROOT, startService, startTrivial } from './lib/proc.js';
import { loadAverage, resultPaths, writeResults } from './lib/results.js';

export interface MixedOptions {
  /** connections of the mixed scenario */
  connections: number;
  /** connections of the read and promise scenarios */
  readConnections: number;
  /** per scenario */
  durationMs: number;
  skus: number;
  zipf: number;
  /** run only these groups: reads, promise, mixed (default: all); the trivial route always runs */
  only?: string[] | undefined;
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
  loadAvg: { start: number[]; end: number[] };
  options: MixedOptions;
  /** every scenario of the run, including `mixed` (all operations) and `mixed:atp|reserve|release` */
  scenarios: Record<string, Stats>;
  /** each scenario's 2xx answers/s (orders/s, good operations/s for mixed) ÷ the trivial route's at the same connections */
  ratios: Record<string, number>;
  /** mixed: reservations created per second, and all answered operations per second */
  ordersPerSec?: number;
  opsPerSec?: number;
  ops?: Record<'atp' | 'reserve' | 'release', OpStats>;
  invariants: InvariantReport;
}

/** Issue 15's targets for the ratios (met when ≥). */
export const TARGETS: Record<string, number> = {
  'atp-1-uniform/trivial': 0.5,
  'atp-1-zipf/trivial': 0.5,
  'atp-10-uniform/trivial': 0.25,
  'atp-10-zipf/trivial': 0.25,
  'promise-3/trivial': 0.3,
  'mixed-ops/trivial': 0.25,
};

const READ_SIZES = [1, 10, 100] as const;

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

export function rng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

export const skuName = (k: number) => `Z-${String(k).padStart(5, '0')}`;

/** `count` distinct ranks from `draw` (all of them if count ≥ n). */
function distinct(draw: () => number, count: number, n: number): number[] {
  const set = new Set<number>();
  const want = Math.min(count, n);
  while (set.size < want) set.add(draw());
  return [...set];
}

const omsGet = (p: string): Req => ({ path: p, method: 'GET', headers: { authorization: `Bearer ${OMS_KEY}` } });

/** A snapshot of everything a read must not change. */
async function writeState(sql: postgres.Sql) {
  const [r] = await sql`select (select count(*) from reservations)::int as reservations,
                               (select coalesce(sum(on_hand), 0)::bigint from positions)::text as on_hand,
                               (select coalesce(sum(reserved), 0)::bigint from positions)::text as reserved,
                               (select count(*) from outbox)::int as outbox`;
  return r as { reservations: number; on_hand: string; reserved: string; outbox: number };
}

/** GET /v1/atp (no channel) agrees with the positions table, per SKU and location, for these SKUs. */
async function atpMatchesPostgres(url: string, sql: postgres.Sql, skus: string[]): Promise<{ checked: number; mismatches: string[] }> {
  const pool = new Pool(url, { connections: 4 });
  const mismatches: string[] = [];
  let checked = 0;
  try {
    for (let i = 0; i < skus.length; i += 50) {
      const chunk = skus.slice(i, i + 50);
      const rows = await sql<{ sku: string; location: string; on_hand: number; reserved: number }[]>`
        select sku, location, on_hand, reserved from positions where sku = any(${chunk}::text[])`;
      const res = await pool.request({ ...omsGet(`/v1/atp?${chunk.map((s) => `sku=${encodeURIComponent(s)}`).join('&')}`) });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        mismatches.push(`GET /v1/atp answered ${res.statusCode}: ${text.slice(0, 200)}`);
        continue;
      }
      const doc = JSON.parse(text) as { skus: { sku: string; locations: { location: string; onHand: number; reserved: number }[] }[] };
      const answered = new Map(doc.skus.flatMap((e) => e.locations.map((l) => [`${e.sku}@${l.location}`, l] as const)));
      for (const r of rows) {
        const a = answered.get(`${r.sku}@${r.location}`);
        checked++;
        if (!a || a.onHand !== r.on_hand || a.reserved !== r.reserved)
          mismatches.push(`${r.sku}@${r.location}: Postgres ${r.on_hand}/${r.reserved}, ATP ${a ? `${a.onHand}/${a.reserved}` : 'missing'} (onHand/reserved)`);
      }
    }
  } finally {
    await pool.close();
  }
  return { checked, mismatches };
}

export async function runMixed(o: MixedOptions): Promise<MixedResult> {
  const log = (s: string) => process.stderr.write(s + '\n');
  const startedAt = new Date().toISOString();
  const load0 = loadAverage();
  const want = (g: string) => !o.only || o.only.includes(g);
  const db = await createBenchDatabase();
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const scenarios: Record<string, Stats> = {};
  const extra: { failures: string[]; checks: Record<string, unknown> } = { failures: [], checks: {} };
  let created = 0;
  let svc: Awaited<ReturnType<typeof startService>> | undefined;
  try {
    svc = await startService({ databaseUrl: db.url, redisUrl: o.redisUrl }, 'service-mixed', o.profileDir);
    await putRules(svc.url);
    // stock by popularity rank: popular SKUs hold more, the tail a little (some run out: 409s are expected)
    const positions = Array.from({ length: o.skus }, (_, k) => ({ sku: skuName(k), location: k % 4 === 0 ? 'DC2' : 'DC1', onHand: Math.max(5, Math.round(20_000 / (k + 1))) }));
    log(`seeding ${positions.length} SKUs through the API`);
    await seedPositions(svc.url, positions, 32);

    // the trivial GET route, at every connection count a scenario below uses
    const conns = [...new Set([...(want('reads') || want('promise') ? [o.readConnections] : []), ...(want('mixed') ? [o.connections] : [])])];
    const trivial = await startTrivial('trivial');
    try {
      for (const c of conns) {
        log(`trivial GET route, ${c} connections, ${o.durationMs / 1000}s`);
        scenarios[`trivial-${c}`] = await closedLoop({ label: `trivial-${c}`, url: trivial.url, connections: c, durationMs: o.durationMs, next: () => omsGet(`/v1/atp?sku=${skuName(1)}&channel=web`), quiet: o.quiet });
      }
    } finally {
      await trivial.stop();
    }

    const before = await writeState(sql);
    if (want('reads')) {
      for (const k of READ_SIZES) {
        for (const dist of ['uniform', 'zipf'] as const) {
          const name = `atp-${k}-${dist}`;
          const rnd = rng(0xa7b + k * 31 + (dist === 'zipf' ? 7 : 0));
          const draw = dist === 'zipf' ? zipfSampler(o.skus, o.zipf, rnd) : () => Math.floor(rnd() * o.skus);
          log(`${name}: GET /v1/atp, ${k} SKU(s) per request, ${o.readConnections} connections, ${o.durationMs / 1000}s`);
          scenarios[name] = await closedLoop({
            label: name,
            url: svc.url,
            connections: o.readConnections,
            durationMs: o.durationMs,
            next: () => omsGet(`/v1/atp?${distinct(draw, k, o.skus).map((r) => `sku=${skuName(r)}`).join('&')}&channel=${pickChannel(rnd())}`),
            quiet: o.quiet,
          });
        }
      }
    }
    if (want('promise')) {
      const rnd = rng(0x9e0);
      const draw = zipfSampler(o.skus, o.zipf, rnd);
      log(`promise-3: POST /v1/promise, 3 Zipf lines, ${o.readConnections} connections, ${o.durationMs / 1000}s`);
      scenarios['promise-3'] = await closedLoop({
        label: 'promise-3',
        url: svc.url,
        connections: o.readConnections,
        durationMs: o.durationMs,
        next: () => ({
          path: '/v1/promise',
          method: 'POST',
          headers: { authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel: pickChannel(rnd()), lines: distinct(draw, 3, o.skus).map((r) => ({ sku: skuName(r), qty: 1 + Math.floor(rnd() * 3) })) }),
        }),
        quiet: o.quiet,
      });
    }
    if (want('reads') || want('promise')) {
      const after = await writeState(sql);
      extra.checks.readsChangedNothing = { before, after };
      if (JSON.stringify(before) !== JSON.stringify(after)) extra.failures.push(`the read scenarios changed stored state: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    }

    if (want('mixed')) {
      log(`mixed: 80 % ATP / 15 % reserve / 5 % release, Zipf ${o.zipf}, ${o.connections} connections, ${o.durationMs / 1000}s`);
      const m = await mixedLoop(svc.url, o);
      created = m.created;
      Object.assign(scenarios, m.scenarios);
    }

    // the answers are exact: ATP agrees with Postgres for the 50 most popular SKUs and 50 others
    const rnd = rng(0x5eed);
    const sample = [...new Set([...Array.from({ length: Math.min(50, o.skus) }, (_, k) => k), ...Array.from({ length: 50 }, () => Math.floor(rnd() * o.skus))])].map(skuName);
    const agree = await atpMatchesPostgres(svc.url, sql, sample);
    extra.checks.atpMatchesPostgres = { positions: agree.checked, mismatches: agree.mismatches.length };
    if (agree.mismatches.length) extra.failures.push(`GET /v1/atp disagrees with Postgres: ${agree.mismatches.slice(0, 5).join('; ')}`);
    if (agree.checked === 0) extra.failures.push('GET /v1/atp agreement: no position checked');
  } finally {
    await svc?.stop();
  }
  let invariants: InvariantReport;
  try {
    invariants = await checkInvariants(db.url, []);
    if (want('mixed')) {
      const [r] = await sql`select count(*)::int as n from reservations`;
      extra.checks.reservationsVs201 = { reservations: r!.n, created201: created };
      if (r!.n !== created) extra.failures.push(`${r!.n} reservations in Postgres but ${created} 201 answers`);
    }
  } finally {
    await sql.end();
    await db.drop();
  }
  invariants = { ok: invariants.ok && extra.failures.length === 0, failures: [...invariants.failures, ...extra.failures], checks: { ...invariants.checks, ...extra.checks } };

  const r2 = (x: number) => Math.round(x * 100) / 100;
  const ratios: Record<string, number> = {};
  const triv = (c: number) => scenarios[`trivial-${c}`]?.okPerSec;
  for (const [name, s] of Object.entries(scenarios)) {
    if (!/^atp-|^promise-/.test(name)) continue;
    const t = triv(o.readConnections);
    if (t) ratios[`${name}/trivial`] = r2(s.okPerSec / t);
  }
  const result: MixedResult = { startedAt, loadAvg: { start: load0, end: loadAverage() }, options: o, scenarios, ratios, invariants };
  const mx = scenarios.mixed;
  if (mx) {
    const t = triv(o.connections);
    const bad = Object.entries(mx.statuses).filter(([k]) => k === '0' || k === '429' || Number(k) >= 500).reduce((n, [, v]) => n + v, 0);
    const goodOps = Math.round((mx.requests - bad) / mx.seconds);
    result.ordersPerSec = Math.round(created / mx.seconds);
    result.opsPerSec = mx.rps;
    if (t) {
      ratios['mixed-ops/trivial'] = r2(goodOps / t);
      ratios['mixed-orders/trivial'] = Math.round((result.ordersPerSec / t) * 1000) / 1000;
    }
    result.ops = Object.fromEntries(
      (['atp', 'reserve', 'release'] as const).map((k) => {
        const s = scenarios[`mixed:${k}`]!;
        return [k, { count: s.requests, perSec: s.rps, statuses: s.statuses, p50: s.p50, p95: s.p95, p99: s.p99, max: s.max }];
      }),
    ) as MixedResult['ops'];
  }
  return result;
}

/** The mixed scenario: one closed loop whose every request is an ATP check, a reservation or a release. */
async function mixedLoop(url: string, o: MixedOptions): Promise<{ created: number; scenarios: Record<string, Stats> }> {
  const rnd = rng(0xc0ffee);
  const zipf = zipfSampler(o.skus, o.zipf, rnd);
  const pool = new Pool(url, { connections: o.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const t0 = performance.now();
  const all = newRecorder(t0);
  const per = { atp: newRecorder(t0), reserve: newRecorder(t0), release: newRecorder(t0) };
  const held: string[] = [];
  const end = t0 + o.durationMs;
  let n = 0;
  const stopProgress = progress('mixed', all, t0, !!o.quiet);
  const orderSkus = () => distinct(zipf, 1 + Math.floor(rnd() * 5), o.skus).map(skuName);
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
          const res = await pool.request({ ...omsGet(`/v1/atp?${orderSkus().map((s) => `sku=${s}`).join('&')}&channel=${channel}`) });
          status = res.statusCode;
          await res.body.dump();
        } else if (op === 'reserve') {
          const key = `mx-${i}`;
          const body = { orderRef: `o-${key}`, channel, lines: orderSkus().map((sku) => ({ sku, qty: 1 + Math.floor(rnd() * 3) })), holdSeconds: 600 };
          const res = await pool.request({ path: '/v1/reservations', method: 'POST', headers: { authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
          status = res.statusCode;
          const text = await res.body.text();
          if (status === 201) held.push((JSON.parse(text) as { id: string }).id);
        } else {
          const id = held.splice(Math.floor(rnd() * held.length), 1)[0]!;
          const res = await pool.request({ path: `/v1/reservations/${id}/release`, method: 'POST', headers: { authorization: `Bearer ${OMS_KEY}`, 'content-type': 'application/json', 'idempotency-key': `rel-${i}` }, body: '{}' });
          status = res.statusCode;
          await res.body.dump();
        }
      } catch {
        status = 0;
      }
      const now = performance.now();
      record(all, status, t, now);
      record(per[op], status, t, now);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - t0) / 1000;
  stopProgress();
  await pool.close();
  return {
    created: per.reserve.created,
    scenarios: {
      mixed: summarise('mixed', all, seconds),
      'mixed:atp': summarise('mixed:atp', per.atp, seconds),
      'mixed:reserve': summarise('mixed:reserve', per.reserve, seconds),
      'mixed:release': summarise('mixed:release', per.release, seconds),
    },
  };
}

// ---------------------------------------------------------------- CLI

async function main() {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', short: 'c' },
      'read-connections': { type: 'string' },
      duration: { type: 'string', short: 'd' },
      skus: { type: 'string' },
      zipf: { type: 'string' },
      runs: { type: 'string' },
      only: { type: 'string' },
      json: { type: 'string' },
      redis: { type: 'string' },
      profile: { type: 'boolean' },
    },
  });
  const env = process.env;
  const o: MixedOptions = {
    connections: Number(values.connections ?? env.BENCH_CONNECTIONS ?? 100),
    readConnections: Number(values['read-connections'] ?? env.BENCH_READ_CONNECTIONS ?? 64),
    durationMs: Number(values.duration ?? env.BENCH_DURATION ?? 10) * 1000,
    skus: Number(values.skus ?? env.BENCH_SKUS ?? 10_000),
    zipf: Number(values.zipf ?? env.BENCH_ZIPF ?? 1.0),
    only: (values.only ?? env.BENCH_ONLY)?.split(',').map((s) => s.trim()),
    redisUrl: values.redis ?? env.BENCH_REDIS_URL ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    profileDir: values.profile ? path.join(ROOT, 'bench/profiles') : undefined,
  };
  const unknown = o.only?.filter((g) => !['reads', 'promise', 'mixed'].includes(g)) ?? [];
  if (unknown.length) throw new Error(`--only takes reads, promise, mixed (got ${unknown.join(', ')})`);
  if (o.profileDir) mkdirSync(o.profileDir, { recursive: true });
  const runs = Number(values.runs ?? env.BENCH_RUNS ?? 1);
  const results: MixedResult[] = [];
  for (let r = 1; r <= runs; r++) {
    process.stderr.write(`\n=== mixed/reads run ${r}/${runs}: ${o.skus} SKUs, Zipf ${o.zipf}, ${o.readConnections} read / ${o.connections} mixed connections, ${o.durationMs / 1000}s per scenario ===\n`);
    results.push(await runMixed(o));
  }
  const m = (f: (r: MixedResult) => number | undefined) => median(results.flatMap((r) => (f(r) === undefined ? [] : [f(r)!])));
  const names = Object.keys(results[0]!.scenarios);
  const pad = (s: string | number, w: number) => String(s).padStart(w);
  console.log(`\n${runs > 1 ? `medians of ${runs} runs` : '1 run'}; load average at the starts: ${results.map((r) => r.loadAvg.start[0]).join(', ')}`);
  console.log(`${'scenario'.padEnd(16)} ${pad('2xx/s', 8)} ${pad('answers/s', 9)} ${pad('p50 ms', 8)} ${pad('p95 ms', 8)} ${pad('p99 ms', 8)} ${pad('max ms', 8)}  statuses (last run)`);
  for (const n of names) {
    const s = (f: (x: Stats) => number) => m((r) => (r.scenarios[n] ? f(r.scenarios[n]) : undefined));
    const last = results.at(-1)!.scenarios[n]!;
    console.log(
      `${n.padEnd(16)} ${pad(s((x) => x.okPerSec), 8)} ${pad(s((x) => x.rps), 9)} ${pad(s((x) => x.p50), 8)} ${pad(s((x) => x.p95), 8)} ${pad(s((x) => x.p99), 8)} ${pad(s((x) => x.max), 8)}  ${Object.entries(last.statuses).map(([k, v]) => `${k}:${v}`).join(' ')}`,
    );
  }
  if (results[0]!.ordersPerSec !== undefined) console.log(`mixed: orders/s ${m((r) => r.ordersPerSec)}   operations/s ${m((r) => r.opsPerSec)}`);
  for (const k of Object.keys(results[0]!.ratios)) {
    const v = m((r) => r.ratios[k]);
    console.log(`${k}: ${v} (runs ${results.map((r) => r.ratios[k]).join(', ')})${TARGETS[k] !== undefined ? `   target ≥ ${TARGETS[k]}: ${v >= TARGETS[k]! ? 'met' : 'not met'}` : ''}`);
  }
  const ok = results.every((r) => r.invariants.ok);
  console.log(`invariants: ${ok ? 'all hold in every run' : results.flatMap((r) => r.invariants.failures).join('; ')}`);
  const c = cpus();
  const command = `npm run bench:mixed -- ${process.argv.slice(2).join(' ')}`.trim();
  const machine = { node: process.version, cpus: `${c.length} × ${c[0]?.model ?? '?'}`, date: new Date().toISOString() };
  const notes = [
    `${o.skus} SKUs (stock by Zipf rank), Zipf ${o.zipf}; reads and promise on ${o.readConnections} connections, mixed on ${o.connections}; ${o.durationMs / 1000} s per scenario.`,
    'Ratios: 2xx answers/s of the scenario ÷ 2xx answers/s of the trivial Hono GET route at the same connection count, same run. mixed-ops counts every answered operation except 429/5xx/transport errors; mixed-orders counts reservations created.',
  ];
  const summary = {
    machine,
    command,
    notes,
    medians: {
      ordersPerSec: m((r) => r.ordersPerSec),
      opsPerSec: m((r) => r.opsPerSec),
      okPerSec: Object.fromEntries(names.map((n) => [n, m((r) => r.scenarios[n]?.okPerSec)])),
      ratios: Object.fromEntries(Object.keys(results[0]!.ratios).map((k) => [k, m((r) => r.ratios[k])])),
    },
    runs: results,
  };
  const files = writeResults(resultPaths('mixed', values.json), summary, {
    title: 'ATP service — reads, promise and mixed workload',
    command,
    machine,
    runs: results,
    targets: TARGETS,
    notes,
  });
  console.log(`results: ${path.relative(process.cwd(), files.json)}\nreport:  ${path.relative(process.cwd(), files.html)}`);
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
