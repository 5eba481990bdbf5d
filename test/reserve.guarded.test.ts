/**
 * The guarded single-statement batch (src/services/reservations/reserve-guarded.ts): a lane decides on what
 * its last batch left, and Postgres' guards refuse the statement whenever that prediction was
 * wrong in a way that matters — then the batch is re-decided under locks. Two service instances on
 * one database make each other's predictions stale, on purpose.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, type Client, expectInvariants } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;
let a: Service;
let b: Service;
let apiA: Client;
let apiB: Client;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent' };
  a = await createService(loadConfig(env), { sweeper: false, relay: false });
  b = await createService(loadConfig(env), { sweeper: false, relay: false });
  apiA = client(a.app);
  apiB = client(b.app);
  sql = postgres(db.url, { max: 3, onnotice: () => {} });
  await apiA.call('PUT', '/v1/locations/DC1', { name: 'DC1', rank: 1 });
  await apiA.call('PUT', '/v1/locations/DC2', { name: 'DC2', rank: 2 });
});

afterAll(async () => {
  await sql?.end();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

const reserve = (api: Client, sku: string, qty: number, key?: string) => api.reserve({ orderRef: `o-${sku}`, channel: 'web', lines: [{ sku, qty }], holdSeconds: 600 }, key);
const stats = (s: Service) => ({ ...s.allocator.guardedStats });

it('a lane with a prediction writes one guarded statement: the 201, GET, the replay and the event all carry the same answer', async () => {
  await apiA.setStock('G-1', 'DC1', 100);
  expect((await reserve(apiA, 'G-1', 1)).status).toBe(201); // decided under locks: the lane learns its positions
  const before = stats(a);
  const r = await reserve(apiA, 'G-1', 2, 'g1-key');
  expect(r.status).toBe(201);
  expect(stats(a).statements).toBe(before.statements + 1);
  expect(r.body.createdAt).toBe(r.body.updatedAt);
  expect(Date.parse(r.body.expiresAt) - Date.parse(r.body.createdAt)).toBe(600_000);
  expect((await apiA.get(r.body.id)).body).toEqual(r.body);
  const replay = await reserve(apiA, 'G-1', 2, 'g1-key');
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(replay.body).toEqual(r.body);
  const [row] = await sql`select answer, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as c, to_char(expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as e from reservations where id = ${r.body.id}`;
  expect(row).toEqual({ answer: r.body, c: r.body.createdAt, e: r.body.expiresAt });
  const [ev] = await sql`select data, created_at from outbox_event where type = 'reservation.created' and subject = ${r.body.id}`;
  expect(ev!.data).toEqual({ reservation: r.body });
  expect(await expectInvariants(db.url, 'G-1')).toEqual([{ sku: 'G-1', location: 'DC1', on_hand: 100, reserved: 3 }]);
  // the paths are counted in /metrics
  const metrics = await (await a.app.request('/metrics')).text();
  expect(metrics).toMatch(/atp_allocator_guarded_total\{outcome="statements"[^}]*\} [1-9]/);
  // the row budget of a guarded reservation: no ledger row, no idempotency row
  const [n] = await sql`select (select count(*) from ledger where sku = 'G-1')::int as ledger, (select count(*) from idempotency_keys)::int as keys`;
  expect(n).toEqual({ ledger: 1, keys: 0 });
});

it('a prediction made stale by another instance (safety stock raised) fails its guard: re-decided under locks, nothing promised past safety stock', async () => {
  await apiA.setStock('G-2', 'DC1', 10);
  await apiA.setStock('G-2', 'DC2', 10);
  expect((await reserve(apiA, 'G-2', 1)).body.lines[0].allocations).toEqual([expect.objectContaining({ location: 'DC1', qty: 1 })]); // A predicts DC1: 9, DC2: 10
  // B raises DC1's safety stock: 1 unit may still be promised there (the CHECK constraint alone would not stop this oversell)
  expect((await apiB.setStock('G-2', 'DC1', 10, { safetyStock: 8 })).status).toBe(200);
  const before = stats(a);
  const r = await reserve(apiA, 'G-2', 5); // predicted: all 5 from DC1 (rank 1); real: only DC2 can take them
  expect(r.status).toBe(201);
  expect(r.body.lines[0].allocations).toEqual([expect.objectContaining({ location: 'DC2', qty: 5 })]);
  expect(stats(a)['guard-failed']).toBe(before['guard-failed'] + 1);
  expect(await sql`select location, reserved, safety_stock from positions where sku = 'G-2' order by location`).toEqual([
    { location: 'DC1', reserved: 1, safety_stock: 8 },
    { location: 'DC2', reserved: 5, safety_stock: 0 },
  ]);
  // and when nothing is left anywhere the guard sends it to the locked path, which refuses
  expect((await apiB.setStock('G-2', 'DC2', 5)).status).toBe(200);
  expect((await reserve(apiA, 'G-2', 2)).status).toBe(409);
  expect(await expectInvariants(db.url, 'G-2')).toHaveLength(2);
});

it('a protection floor computed from a stale onHand fails its guard', async () => {
  expect((await apiA.call('PUT', '/v1/rules', { defaultTier: 1, protect: { '1': 5 }, channels: { web: { tier: 1 }, market: { tier: 2 } }, skus: {} })).status).toBe(200);
  await apiA.setStock('G-3', 'DC1', 20);
  expect((await apiA.reserve({ orderRef: 'm-0', channel: 'market', lines: [{ sku: 'G-3', qty: 1 }] })).status).toBe(201);
  // B reserves 10 for web (tier 1): 9 left, of which 5 are protected from market
  expect((await apiB.reserve({ orderRef: 'w-1', channel: 'web', lines: [{ sku: 'G-3', qty: 10 }] })).status).toBe(201);
  const before = stats(a);
  // A still predicts 19 available: market asks for 6; only 4 may go to market now
  const r = await apiA.reserve({ orderRef: 'm-1', channel: 'market', lines: [{ sku: 'G-3', qty: 6 }] });
  expect(r.status).toBe(409);
  expect(stats(a)['guard-failed']).toBe(before['guard-failed'] + 1);
  const [p] = await sql`select reserved from positions where sku = 'G-3'`;
  expect(p!.reserved).toBe(11);
  await apiA.call('PUT', '/v1/rules', { defaultTier: 1, protect: {}, channels: {}, skus: {} }, { 'if-match': '"2"' });
});

it('the SKU totals the guards check are current: a count of another location committed while the statement waits fails the floor', async () => {
  const etag = (await apiA.call('GET', '/v1/rules')).headers.get('etag')!;
  expect((await apiA.call('PUT', '/v1/rules', { defaultTier: 1, protect: { '1': 12 }, channels: { web: { tier: 1 }, market: { tier: 2 } }, skus: {} }, { 'if-match': etag })).status).toBe(200);
  await apiA.setStock('G-7', 'DC1', 10);
  await apiA.setStock('G-7', 'DC2', 10);
  expect((await apiA.reserve({ orderRef: 'g7-0', channel: 'market', lines: [{ sku: 'G-7', qty: 1, location: 'DC1' }] })).status).toBe(201);
  // another writer is counting DC2 down to 5 (uncommitted): DC1 is not its row
  const tx = await sql.reserve();
  try {
    await tx`begin`;
    await tx`update positions set on_hand = 5 where sku = 'G-7' and location = 'DC2'`;
    await tx`insert into ledger (sku, location, delta_on_hand, reason, actor) values ('G-7', 'DC2', -5, 'cycle-count', 'test')`;
    // predicted: DC1 4 + DC2 10 = 14 >= 12 after taking 5 at DC1; real once the count commits: 4 + 5 = 9 < 12
    let settled = false;
    const pending = apiA.reserve({ orderRef: 'g7-1', channel: 'market', lines: [{ sku: 'G-7', qty: 5, location: 'DC1' }] }).finally(() => (settled = true));
    // wait until the statement waits for the count's row (or has answered without waiting: then the guard read a stale total)
    for (;;) {
      const [w] = await sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      if (w!.n > 0 || settled) break;
      await new Promise((r) => setImmediate(r));
    }
    await tx`commit`;
    const r = await pending;
    expect(r.status).toBe(409);
  } finally {
    tx.release();
  }
  expect(await sql`select location, reserved, on_hand from positions where sku = 'G-7' order by location`).toEqual([
    { location: 'DC1', reserved: 1, on_hand: 10 },
    { location: 'DC2', reserved: 0, on_hand: 5 },
  ]);
  const etag2 = (await apiA.call('GET', '/v1/rules')).headers.get('etag')!;
  expect((await apiA.call('PUT', '/v1/rules', { defaultTier: 1, protect: {}, channels: {}, skus: {} }, { 'if-match': etag2 })).status).toBe(200);
});

it('more stock than predicted is no reason to fail: a guarded batch accepts on top of a restock elsewhere', async () => {
  await apiA.setStock('G-4', 'DC1', 3);
  expect((await reserve(apiA, 'G-4', 1)).status).toBe(201);
  expect((await apiB.setStock('G-4', 'DC1', 50)).status).toBe(200);
  const before = stats(a);
  expect((await reserve(apiA, 'G-4', 1)).status).toBe(201);
  expect(stats(a).statements).toBe(before.statements + 1);
  expect(await expectInvariants(db.url, 'G-4')).toEqual([{ sku: 'G-4', location: 'DC1', on_hand: 50, reserved: 2 }]);
});

it('a key stored by another verb or another instance is answered from what is stored, and the rest of the batch goes through', async () => {
  await apiA.setStock('G-5', 'DC1', 100);
  expect((await reserve(apiA, 'G-5', 1)).status).toBe(201);
  const first = await reserve(apiB, 'G-5', 4, 'g5-dup'); // stored by B
  expect(first.status).toBe(201);
  const before = stats(a);
  const [dup, fresh, reuse] = await Promise.all([reserve(apiA, 'G-5', 4, 'g5-dup'), reserve(apiA, 'G-5', 2, 'g5-new'), reserve(apiA, 'G-5', 9, 'g5-dup-other-body')]);
  expect(dup.status).toBe(201);
  expect(dup.headers.get('idempotent-replayed')).toBe('true');
  expect(dup.body).toEqual(first.body);
  expect(fresh.status).toBe(201);
  expect(reuse.status).toBe(201);
  expect(stats(a).statements).toBeGreaterThan(before.statements);
  // the same key as B's with another body is refused, not allocated
  const bad = await reserve(apiA, 'G-5', 7, 'g5-dup');
  expect(bad.status).toBe(422);
  expect(await expectInvariants(db.url, 'G-5')).toEqual([{ sku: 'G-5', location: 'DC1', on_hand: 100, reserved: 1 + 4 + 2 + 9 }]);
});

it('two instances selling the last units at once: exactly the stock is sold, every 201 is stored once', async () => {
  await apiA.setStock('G-6', 'DC1', 60);
  await reserve(apiA, 'G-6', 1);
  await reserve(apiB, 'G-6', 1);
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => reserve(i % 2 ? apiA : apiB, 'G-6', 1, `g6-${i}`)));
  const ok = answers.filter((r) => r.status === 201);
  expect(ok).toHaveLength(58);
  expect(answers.filter((r) => r.status === 409)).toHaveLength(142);
  const [n] = await sql`select count(*)::int as n from reservations where order_ref = 'o-G-6'`;
  expect(n!.n).toBe(60);
  expect(await expectInvariants(db.url, 'G-6')).toEqual([{ sku: 'G-6', location: 'DC1', on_hand: 60, reserved: 60 }]);
  // channel holds, supply and statuses agree with the allocations (the service's own consistency check)
  const check = await apiA.call('GET', '/v1/consistency');
  expect(check.body.breaches).toEqual([]);
});

it('a capped channel decides on the hold its lane last saw; another instance filling the cap meanwhile fails the guard, and the cap holds', async () => {
  const put = await apiA.putRules({ defaultTier: 1, channels: { web: { tier: 1 }, mkt: { tier: 1, maxUnits: 10 } }, protect: {}, skus: {} });
  expect(put.status).toBe(200);
  for (const s of [a, b]) await (s.rules as unknown as { reload(): Promise<void> }).reload();
  await apiA.setStock('G-CAP', 'DC1', 100);
  const mkt = (api: Client, qty: number) => api.reserve({ orderRef: 'o-G-CAP', channel: 'mkt', lines: [{ sku: 'G-CAP', qty }], holdSeconds: 600 });
  expect((await mkt(apiA, 1)).status).toBe(201); // under locks: A's lane learns mkt holds 1
  const first = stats(a);
  expect((await mkt(apiA, 1)).status).toBe(201); // guarded: predicted 1 + 1 ≤ 10
  expect(stats(a).statements).toBe(first.statements + 1);
  expect((await mkt(apiB, 7)).status).toBe(201); // B: mkt holds 9; A still predicts 2
  const before = stats(a);
  const r = await mkt(apiA, 5); // predicted 2 + 5 ≤ 10, real 9 + 5 > 10
  expect(stats(a)['guard-failed']).toBe(before['guard-failed'] + 1);
  expect(r.status).toBe(409);
  expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'G-CAP', reason: 'channel-cap' })]);
  const ok = await mkt(apiA, 1); // decided on the confirmed hold (9): the last unit of the cap
  expect(ok.status).toBe(201);
  expect((await mkt(apiA, 1)).status).toBe(409);
  const [h] = await sql`select reserved from channel_holds where sku = 'G-CAP' and channel = 'mkt'`;
  expect(h!.reserved).toBe(10);
  expect(await expectInvariants(db.url, 'G-CAP')).toEqual([{ sku: 'G-CAP', location: 'DC1', on_hand: 100, reserved: 10 }]);
  const check = await apiA.call('GET', '/v1/consistency');
  expect(check.body.breaches).toEqual([]);
});
