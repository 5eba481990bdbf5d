/** The bench's own fresh database, seeding through the API, and the invariant checks (SQL). */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { Pool } from 'undici';
import { ADMIN_KEY } from './proc.js';

export const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? process.env.TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, uniquely named database (dropped with `drop`); the tests use it too (test/helpers/db.ts). */
export async function createScratchDatabase(prefix: string): Promise<{ url: string; name: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  return {
    url,
    name,
    drop: async () => {
      const a = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

export const createBenchDatabase = () => createScratchDatabase('atp_bench');

export const adminHeaders = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

/** The channel mix of the flash sale and the priority rules that are in force during it. */
export const CHANNELS: [string, number][] = [
  ['web', 0.4],
  ['app', 0.25],
  ['b2b', 0.15],
  ['marketplace', 0.2],
];
export const RULES = {
  defaultTier: 3,
  channels: { web: { tier: 1 }, app: { tier: 1 }, b2b: { tier: 2 }, marketplace: { tier: 3, maxShare: 0.2 } },
  protect: { '1': 50, '2': 20 },
  skus: {},
};

export function pickChannel(r: number): string {
  let acc = 0;
  for (const [c, w] of CHANNELS) {
    acc += w;
    if (r < acc) return c;
  }
  return CHANNELS[0]![0];
}

async function expectOk(p: Promise<{ statusCode: number; body: { text(): Promise<string> } }>, what: string) {
  const r = await p;
  const t = await r.body.text();
  if (r.statusCode >= 300) throw new Error(`${what}: HTTP ${r.statusCode} ${t}`);
}

export async function putRules(url: string): Promise<void> {
  const pool = new Pool(url, { connections: 1 });
  await expectOk(pool.request({ path: '/v1/rules', method: 'PUT', headers: adminHeaders, body: JSON.stringify(RULES) }), 'PUT /v1/rules');
  await pool.close();
}

/** Set positions through the API (cycle counts, audited in the ledger like any real stock). */
export async function seedPositions(url: string, positions: { sku: string; location: string; onHand: number }[], concurrency = 32): Promise<void> {
  const pool = new Pool(url, { connections: concurrency });
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < positions.length) {
        const p = positions[next++]!;
        await expectOk(
          pool.request({ path: `/v1/inventory/${encodeURIComponent(p.sku)}/${encodeURIComponent(p.location)}`, method: 'PUT', headers: adminHeaders, body: JSON.stringify({ onHand: p.onHand, reason: 'bench seed' }) }),
          `PUT inventory ${p.sku}`,
        );
      }
    }),
  );
  await pool.close();
}

export interface InvariantReport {
  ok: boolean;
  failures: string[];
  checks: Record<string, unknown>;
}

/**
 * The invariants after a run, from Postgres alone:
 * - zero oversell: no position has available < 0;
 * - reserved == Σ active (on-hand) allocations, for every position;
 * - one reservation.created event per reservation, none twice;
 * - per scenario SKU: the reservations in the database == the 201s the load generator counted
 *   (first answers, not replays), and when demand exceeded stock, units sold == stock exactly.
 */
export async function checkInvariants(dbUrl: string, expectations: { sku: string; created: number; soldOut?: boolean; stock?: number }[]): Promise<InvariantReport> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  const failures: string[] = [];
  const checks: Record<string, unknown> = {};
  try {
    const oversold = await sql`select sku, location, on_hand, reserved, quality_hold, safety_stock from positions
                               where on_hand - reserved - quality_hold - safety_stock < 0 or reserved < 0`;
    checks.oversoldPositions = oversold.length;
    if (oversold.length) failures.push(`oversell at ${oversold.map((r) => `${r.sku}@${r.location}`).join(', ')}`);
    const unbalanced = await sql`select p.sku, p.location, p.reserved, coalesce(a.s, 0)::int as allocated from positions p
                                 left join (select sku, location, sum(qty) as s from allocations where supply_id is null group by sku, location) a
                                   on a.sku = p.sku and a.location = p.location
                                 where p.reserved <> coalesce(a.s, 0)`;
    checks.unbalancedPositions = unbalanced.length;
    if (unbalanced.length) failures.push(`reserved != Σ allocations at ${unbalanced.slice(0, 5).map((r) => `${r.sku}@${r.location} ${r.reserved}≠${r.allocated}`).join(', ')}`);
    const [ev] = await sql`select (select count(*) from reservations)::int as reservations,
                                  (select count(*) from outbox where type = 'reservation.created')::int as events,
                                  (select count(distinct subject) from outbox where type = 'reservation.created')::int as subjects,
                                  (select count(*) from reservations r where not exists
                                     (select 1 from outbox o where o.type = 'reservation.created' and o.subject = r.id::text))::int as missing`;
    checks.events = ev;
    if (ev!.events !== ev!.reservations || ev!.subjects !== ev!.reservations || ev!.missing !== 0) failures.push(`events: ${JSON.stringify(ev)}`);
    for (const e of expectations) {
      const [r] = await sql`select count(distinct l.reservation_id)::int as reservations, coalesce(sum(l.qty), 0)::int as units,
                                   (select coalesce(sum(on_hand), 0)::int from positions where sku = ${e.sku}) as on_hand,
                                   (select coalesce(sum(reserved), 0)::int from positions where sku = ${e.sku}) as reserved
                            from reservation_lines l where l.sku = ${e.sku}`;
      checks[e.sku] = { ...r, created201: e.created };
      if (r!.reservations !== e.created) failures.push(`${e.sku}: ${r!.reservations} reservations in Postgres but ${e.created} first 201 answers`);
      if (e.soldOut && r!.units !== e.stock) failures.push(`${e.sku}: demand exceeded stock ${e.stock} but ${r!.units} units were sold`);
      if (e.stock !== undefined && r!.units > e.stock) failures.push(`${e.sku}: oversold ${r!.units} > ${e.stock}`);
    }
  } finally {
    await sql.end();
  }
  return { ok: failures.length === 0, failures, checks };
}
