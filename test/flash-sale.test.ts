/**
 * Flash-sale protections against real Postgres, through the HTTP app.
 * Invariants proven:
 * - the sold-out memory never grants: after a sell-out every request is refused (409), some from
 *   memory, and the database holds exactly the stock; a retry of an ACCEPTED request that arrives
 *   after the sell-out still replays its 201 (idempotency beats the memory);
 * - a restock after a sell-out is seen at once by the instance that took it (local invalidation),
 *   and by another instance at its next request, long before its memory's TTL has passed: the
 *   memory refuses only after the shared read confirmed it (src/reads/reader.ts; the instances
 *   share a test clock: time is moved, not slept);
 * - load shedding refuses with 429 + Retry-After and writes nothing for a shed request (no
 *   reservation, no idempotency row: the same key later succeeds);
 * - two service instances selling out one SKU concurrently accept exactly the stock — no oversell
 *   (examples and a fast-check property over stock and demand). Instances a and b run with
 *   ATP_LANE_CONCURRENCY=4, so their allocation transactions on the hot row overlap within each
 *   instance and across the two; the SKUs keep safety stock, which no CHECK constraint guards, so a
 *   missing row lock shows as an oversell (checked: without `for update` in services/reservations/reserve.ts
 *   these tests fail).
 */
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let shedder: Service;
let sql: postgres.Sql;
const TTL_B = 150;
/** the instances' clock (sold-out memory TTLs and stored times): moved by the tests, never slept */
const clock = new ManualClock();

beforeAll(async () => {
  db = await createTestDatabase();
  const base = { DATABASE_URL: db.url, ATP_DB_POOL_MAX: '8', LOG_LEVEL: 'silent' };
  a = await createService(loadConfig({ ...base, ATP_LANE_CONCURRENCY: '4', ATP_SOLDOUT_TTL_MS: '60000' }), { sweeper: false, clock });
  b = await createService(loadConfig({ ...base, ATP_LANE_CONCURRENCY: '4', ATP_SOLDOUT_TTL_MS: String(TTL_B) }), { sweeper: false, clock });
  shedder = await createService(loadConfig({ ...base, ATP_QUEUE_BUDGET_MS: '0' }), { sweeper: false, clock });
  sql = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await shedder?.stop();
  await sql?.end();
  await db?.drop();
});

const json = { 'content-type': 'application/json' };
const put = (svc: Service, sku: string, onHand: number, safetyStock = 0) =>
  client(svc.app).raw(`/v1/inventory/${sku}/DC1`, { method: 'PUT', headers: json, body: JSON.stringify({ onHand, safetyStock }) });
const reserve = (svc: Service, sku: string, key: string, qty = 1) =>
  client(svc.app).raw('/v1/reservations', {
    method: 'POST',
    headers: { ...json, 'idempotency-key': key },
    body: JSON.stringify({ orderRef: `o-${key}`, channel: 'web', lines: [{ sku, qty }] }),
  });

async function dbState(sku: string) {
  const [p] = await sql`select coalesce(sum(on_hand),0)::int as on_hand, coalesce(sum(reserved),0)::int as reserved from positions where sku = ${sku}`;
  const [r] = await sql`select count(distinct reservation_id)::int as n, coalesce(sum(qty),0)::int as units from reservation_lines where sku = ${sku}`;
  const [al] = await sql`select coalesce(sum(qty),0)::int as s from allocations where sku = ${sku} and supply_id is null`;
  return { onHand: p!.on_hand as number, reserved: p!.reserved as number, reservations: r!.n as number, units: r!.units as number, allocated: al!.s as number };
}

it('sold-out memory never grants, and a retry of an accepted request still replays its 201', async () => {
  expect((await put(a, 'MEM-1', 5)).status).toBe(200);
  const first = await Promise.all(Array.from({ length: 30 }, (_, i) => reserve(a, 'MEM-1', `m1-${i}`)));
  const accepted = first.map((r, i) => [r.status, i] as const).filter(([s]) => s === 201);
  expect(accepted).toHaveLength(5);
  const hitsBefore = a.allocator.depth.soldOutHits;
  const later = await Promise.all(Array.from({ length: 40 }, (_, i) => reserve(a, 'MEM-1', `m1-late-${i}`)));
  expect(later.every((r) => r.status === 409)).toBe(true);
  const problem = (await later[0]!.json()) as { code: string; lines: { sku: string; available: number }[] };
  expect(problem.code).toBe('insufficient-stock');
  expect(problem.lines[0]).toMatchObject({ sku: 'MEM-1', available: 0 });
  expect(a.allocator.depth.soldOutHits).toBeGreaterThan(hitsBefore); // answered from memory
  // the retry of an accepted request (same key, same body) replays, memory or not
  const retry = await reserve(a, 'MEM-1', `m1-${accepted[0]![1]}`);
  expect(retry.status).toBe(201);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  expect(await dbState('MEM-1')).toMatchObject({ onHand: 5, reserved: 5, reservations: 5, units: 5, allocated: 5 });
});

it('a restock after a sell-out is seen at once by the same instance', async () => {
  await put(a, 'MEM-2', 3);
  await Promise.all(Array.from({ length: 10 }, (_, i) => reserve(a, 'MEM-2', `m2-${i}`)));
  expect((await reserve(a, 'MEM-2', 'm2-x')).status).toBe(409);
  expect(a.allocator.soldOut.isSoldOut('MEM-2')).toBe(true);
  expect((await put(a, 'MEM-2', 6)).status).toBe(200); // +3 units
  const after = await Promise.all(Array.from({ length: 10 }, (_, i) => reserve(a, 'MEM-2', `m2-r-${i}`)));
  expect(after.filter((r) => r.status === 201)).toHaveLength(3);
  expect(await dbState('MEM-2')).toMatchObject({ onHand: 6, reserved: 6, reservations: 6, allocated: 6 });
});

it('a restock through another instance is seen by the next request, before the memory TTL has passed', async () => {
  await put(b, 'MEM-3', 2);
  await Promise.all(Array.from({ length: 6 }, (_, i) => reserve(b, 'MEM-3', `m3-${i}`)));
  expect((await reserve(b, 'MEM-3', 'm3-x')).status).toBe(409);
  expect(b.allocator.soldOut.isSoldOut('MEM-3')).toBe(true);
  // nothing changed: b refuses from memory (the shared read confirmed it)
  const hits = b.allocator.depth.soldOutHits;
  expect((await reserve(b, 'MEM-3', 'm3-w')).status).toBe(409);
  expect(b.allocator.depth.soldOutHits).toBe(hits + 1);
  expect((await put(a, 'MEM-3', 4)).status).toBe(200); // restocked through instance a
  // b heard nothing of it and its memory's TTL has not passed: the next request sees the stock
  clock.advance(TTL_B - 1);
  expect(b.allocator.soldOut.isSoldOut('MEM-3')).toBe(true);
  const after = await Promise.all(Array.from({ length: 6 }, (_, i) => reserve(b, 'MEM-3', `m3-r-${i}`)));
  expect(after.filter((r) => r.status === 201)).toHaveLength(2);
  expect(await dbState('MEM-3')).toMatchObject({ onHand: 4, reserved: 4, reservations: 4 });
  clock.advance(1);
});

it('a release makes released stock reservable at once despite the memory', async () => {
  await put(a, 'MEM-4', 1);
  const r = await reserve(a, 'MEM-4', 'm4-1');
  expect(r.status).toBe(201);
  const { id } = (await r.json()) as { id: string };
  expect((await reserve(a, 'MEM-4', 'm4-2')).status).toBe(409);
  const rel = await client(a.app).raw(`/v1/reservations/${id}/release`, { method: 'POST', headers: { ...json, 'idempotency-key': 'm4-rel' }, body: '{}' });
  expect(rel.status).toBe(200);
  expect((await reserve(a, 'MEM-4', 'm4-3')).status).toBe(201);
});

it('shedding answers 429 with Retry-After and writes nothing for shed requests', async () => {
  await put(shedder, 'SHED-1', 100_000);
  const n = 120;
  const res = await Promise.all(Array.from({ length: n }, (_, i) => reserve(shedder, 'SHED-1', `s-${i}`)));
  const ok = res.map((r, i) => [r, i] as const).filter(([r]) => r.status === 201);
  const shed = res.map((r, i) => [r, i] as const).filter(([r]) => r.status === 429);
  expect(ok.length + shed.length).toBe(n);
  expect(shed.length).toBeGreaterThan(0);
  for (const [r] of shed) {
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.headers.get('content-type')).toContain('application/problem+json');
    expect(((await r.json()) as { code: string }).code).toBe('overloaded');
  }
  const st = await dbState('SHED-1');
  expect(st).toMatchObject({ reserved: ok.length, reservations: ok.length, allocated: ok.length });
  const shedKeys = shed.map(([, i]) => `s-${i}`);
  const [k] = await sql`select ((select count(*) from idempotency_keys where key in ${sql(shedKeys)}) + (select count(*) from reservations where idempotency_key in ${sql(shedKeys)}))::int as n`;
  expect(k!.n).toBe(0);
  const [e] = await sql`select count(*)::int as n from outbox_event where type = 'reservation.created' and data->'reservation'->>'orderRef' in ${sql(shedKeys.map((x) => `o-${x}`))}`;
  expect(e!.n).toBe(0);
  // a shed request left no trace: retried alone (nothing in flight), the same key is a fresh 201
  const again = await reserve(shedder, 'SHED-1', shedKeys[0]!);
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotent-replayed')).toBeNull();
});

it('two instances selling out one SKU concurrently accept exactly the stock', async () => {
  expect((await put(a, 'TWO-1', 105, 5)).status).toBe(200); // 100 promisable
  const res = await Promise.all([
    ...Array.from({ length: 250 }, (_, i) => reserve(a, 'TWO-1', `t1-a-${i}`)),
    ...Array.from({ length: 250 }, (_, i) => reserve(b, 'TWO-1', `t1-b-${i}`)),
  ]);
  expect(res.filter((r) => r.status === 201)).toHaveLength(100);
  expect(res.every((r) => r.status === 201 || r.status === 409)).toBe(true);
  expect(await dbState('TWO-1')).toMatchObject({ onHand: 105, reserved: 100, reservations: 100, units: 100, allocated: 100 });
});

it('property: two instances never oversell, whatever the stock, demand and quantities', async () => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 0, max: 30 }),
      fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 60 }),
      async (stock, qtys) => {
        const sku = `PROP-${run++}`;
        expect((await put(a, sku, stock + 3, 3)).status).toBe(200); // `stock` promisable, 3 kept back
        const res = await Promise.all(qtys.map((q, i) => reserve(i % 2 ? b : a, sku, `${sku}-${i}`, q)));
        const sold = res.reduce((s, r, i) => s + (r.status === 201 ? qtys[i]! : 0), 0);
        const st = await dbState(sku);
        expect(st.units).toBe(sold);
        expect(st.reserved).toBe(sold);
        expect(st.allocated).toBe(sold);
        expect(sold).toBeLessThanOrEqual(stock);
        // every refusal is a real shortage: availability only falls during the sale, so each
        // refused request is larger than what is left at the end — the smallest refused one too
        const refused = qtys.filter((_, i) => res[i]!.status === 409);
        if (refused.length) expect(stock - sold).toBeLessThan(Math.min(...refused));
        expect(res.every((r) => r.status === 201 || r.status === 409)).toBe(true);
      },
    ),
    { numRuns: 12 },
  );
});

it('the same Idempotency-Key sent concurrently to two instances reserves once; every answer is that reservation', async () => {
  await put(a, 'IDEM-1', 50);
  const res = await Promise.all(Array.from({ length: 20 }, (_, i) => reserve(i % 2 ? b : a, 'IDEM-1', 'same-key', 2)));
  expect(res.every((r) => r.status === 201)).toBe(true);
  const ids = new Set(await Promise.all(res.map(async (r) => ((await r.json()) as { id: string }).id)));
  expect(ids.size).toBe(1);
  expect(await dbState('IDEM-1')).toMatchObject({ reserved: 2, reservations: 1, units: 2, allocated: 2 });
});
