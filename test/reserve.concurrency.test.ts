/**
 * Invariant proven: no oversell under concurrency — 500 one-unit requests at once for 100
 * promisable units → exactly 100 accepted, every refusal `insufficient-stock`, reserved ==
 * Σ active allocations == 100, ledger balanced, availability exactly 0 (never below).
 * (1) through the HTTP apps of TWO service instances on one database, each with
 *     ATP_LANE_CONCURRENCY=4 and small batches: up to 8 allocation transactions on the same row
 *     overlap for real, so only the row lock (`for update`) keeps them apart. The position keeps
 *     10 units of safety stock, which no CHECK constraint guards (positions_no_oversell counts
 *     reserved + quality hold only): a decision made on a stale read oversells into it instead
 *     of failing. Removing `for update` in services/reservations/reserve.ts makes this case fail.
 * (2) straight to reserveBatch, one transaction per request over 20 pooled connections, so the
 *     row locks (not the batcher) are what keep them apart.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { reserveBatch } from '../src/services/reservations/reserve.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let other: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;

beforeAll(async () => {
  db = await createTestDatabase();
  // lanes overlap: 4 batches of one SKU in flight per instance, at most 8 requests per batch
  const env = { DATABASE_URL: db.url, ATP_DB_POOL_MAX: '20', ATP_LANE_CONCURRENCY: '4', ATP_BATCH_MAX: '8', ATP_SOLDOUT_TTL_MS: '0', LOG_LEVEL: 'silent' };
  svc = await createService(loadConfig(env), { sweeper: false });
  other = await createService(loadConfig({ ...env, ATP_DB_POOL_MAX: '10' }), { sweeper: false });
});
afterAll(async () => {
  await other?.stop();
  await svc?.stop();
  await db?.drop();
});

it('500 concurrent requests over two instances with overlapping lanes allocate exactly the 100 promisable units', async () => {
  const apis = [client(svc.app), client(other.app)];
  expect((await apis[0]!.setStock('HOT', 'DC1', 110, { safetyStock: 10 })).status).toBe(200);
  const responses = await Promise.all(Array.from({ length: 500 }, (_, i) => apis[i % 2]!.reserve({ orderRef: `o-${i}`, channel: 'web', lines: [{ sku: 'HOT', qty: 1 }] }, `k-${i}`)));
  const statuses = responses.map((r) => r.status);
  expect(statuses.filter((s) => s === 201)).toHaveLength(100);
  expect(statuses.filter((s) => s === 409)).toHaveLength(400);
  expect(new Set(responses.filter((r) => r.status === 409).map((r) => r.body.code))).toEqual(new Set(['insufficient-stock']));
  await expectBalanced('HOT', 110);
  const atp = (await apis[1]!.atp(['HOT'])).body.skus[0];
  expect(atp).toMatchObject({ onHand: 110, reserved: 100, safetyStock: 10, available: 0 });
});

it('500 concurrent single-request transactions for 100 units allocate exactly 100', async () => {
  expect((await client(svc.app).setStock('HOT2', 'DC1', 100)).status).toBe(200);
  const rules = svc.rules.current();
  const reports = await Promise.all(
    Array.from({ length: 500 }, (_, i) =>
      reserveBatch(svc.database.db, rules, [
        { caller: 't', idempotencyKey: `d-${i}`, fingerprint: `f-${i}`, orderRef: `d-${i}`, channel: 'web', lines: [{ sku: 'HOT2', qty: 1 }] },
      ]),
    ),
  );
  expect(reports.filter((r) => r.results[0]!.ok)).toHaveLength(100);
  await expectBalanced('HOT2', 100);
});

async function expectBalanced(sku: string, onHand: number) {
  const sql = postgres(db.url, { max: 1 });
  const [p] = await sql`select on_hand, reserved from positions where sku = ${sku}`;
  const [a] = await sql`select coalesce(sum(qty),0)::int as s from allocations where sku = ${sku} and supply_id is null`;
  const [l] = await sql`select coalesce(sum(delta_on_hand),0)::int as oh, count(*)::int as n from ledger where sku = ${sku}`;
  await sql.end();
  expect(p).toMatchObject({ on_hand: onHand, reserved: 100 });
  expect(a!.s).toBe(100);
  // the ledger audits onHand: the count that set it, and no row per reservation (the row budget)
  expect(l).toMatchObject({ oh: onHand, n: 1 });
}
