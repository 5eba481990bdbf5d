/**
 * Invariants proven under concurrency (real Postgres, 20 pooled connections):
 * (1) backorder reservations racing for the same inbound PO never over-allocate it: 300 one-unit
 *     backorders (through the batcher and as single-request transactions) for a PO of 100 with
 *     nothing on hand → exactly 100 accepted, allocated_qty == 100 == Σ backorders;
 * (2) receipts racing with reservations, releases, a slip and a cancel of another PO on the same
 *     SKU: no oversell of stock or supply — every stock invariant holds afterwards, onHand equals
 *     the receipts accepted, and the receipts filled backorders without double counting;
 * (3) short picks racing with reservations, releases and receipts on the same SKU: each short pick
 *     corrects onHand by exactly its own delta, and the invariants hold afterwards.
 */
import { beforeAll, expect, it } from 'vitest';
import { reserveBatch } from '../src/services/reservations/reserve.js';
import { Unavailable } from '../src/domain/errors.js';
import { serviceFixture } from './helpers/service.js';
import { checkInvariants, client, day } from './helpers/supply.js';
import postgres from 'postgres';

const t = serviceFixture({ ATP_DB_POOL_MAX: '20' });
let api: ReturnType<typeof client>;

/** Run `f` again while it fails with Unavailable (503: retry-safe), up to 20 times. */
async function retryUnavailable<T>(f: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof Unavailable) || i >= 20) throw err;
    }
  }
}

beforeAll(async () => {
  api = client(t.svc);
  await api.location('DC1', 1);
  await api.location('DC2', 2);
});

it('300 racing one-unit backorders for a PO of 100 allocate exactly 100', async () => {
  const po = (await api.supply({ sku: 'C1', location: 'DC1', qty: 100, expectedAt: day(5) })).body;
  const rules = t.svc.rules.current();
  const results = await Promise.all([
    ...Array.from({ length: 150 }, (_, i) => api.reserve({ orderRef: `h${i}`, channel: 'web', lines: [{ sku: 'C1', qty: 1 }], allowBackorder: true }).then((r) => r.status === 201)),
    ...Array.from({ length: 150 }, (_, i) =>
      // a caller retries a 503 (lock timeout on a loaded box) with the same key, as the client contract says
      retryUnavailable(() =>
        reserveBatch(t.svc.database.db, rules, [
          { caller: 't', idempotencyKey: `c1-${i}`, fingerprint: `f${i}`, orderRef: `d${i}`, channel: 'web', lines: [{ sku: 'C1', qty: 1 }], allowBackorder: true },
        ]),
      ).then((r) => r.results[0]!.ok),
    ),
  ]);
  expect(results.filter(Boolean)).toHaveLength(100);
  const s = (await api.call('GET', `/v1/supply/${po.id}`)).body;
  expect(s).toMatchObject({ allocatedQty: 100, freeQty: 0 });
  await checkInvariants(t.db.url, 'C1');
  await api.consistent();
});

it('receipts racing with reservations, releases, a slip and a cancel never oversell stock or supply', async () => {
  const a = (await api.supply({ sku: 'C2', location: 'DC1', qty: 60, expectedAt: day(3) })).body;
  const b = (await api.supply({ sku: 'C2', location: 'DC2', qty: 30, expectedAt: day(6) })).body;
  const c = (await api.supply({ sku: 'C2', location: 'DC2', qty: 20, expectedAt: day(8) })).body;
  // some backorders exist before the race
  const early = await Promise.all(Array.from({ length: 20 }, (_, i) => api.reserve({ orderRef: `e${i}`, channel: 'web', lines: [{ sku: 'C2', qty: 2 }], allowBackorder: true })));
  expect(early.filter((r) => r.status !== 201).map((r) => [r.status, r.body])).toEqual([]);
  const ops: Promise<{ status: number; kind: string; qty?: number; body?: unknown }>[] = [];
  for (let i = 0; i < 12; i++) ops.push(api.receive(a.id, { qty: 5 }).then((r) => ({ status: r.status, kind: 'receive', qty: 5, body: r.body })));
  for (let i = 0; i < 60; i++) {
    ops.push(
      api.reserve({ orderRef: `r${i}`, channel: i % 3 ? 'web' : 'mkt', lines: [{ sku: 'C2', qty: 1 + (i % 3) }], allowBackorder: i % 2 === 0 }).then((r) => ({ status: r.status, kind: 'reserve' })),
    );
  }
  for (let i = 0; i < 10; i++) ops.push(api.call('POST', `/v1/reservations/${early[i]!.body.id}/release`, {}).then((r) => ({ status: r.status, kind: 'release' })));
  ops.push(api.patch(b.id, { expectedAt: day(9) }).then((r) => ({ status: r.status, kind: 'slip' })));
  ops.push(api.cancel(c.id).then((r) => ({ status: r.status, kind: 'cancel' })));
  const out = await Promise.all(ops);
  for (const o of out) expect([200, 201, 409], `${o.kind} → ${o.status}`).toContain(o.status);
  expect(out.filter((o) => o.kind === 'receive' && o.status !== 200).map((o) => [o.status, o.body])).toEqual([]);
  const received = out.filter((o) => o.kind === 'receive' && o.status === 200).reduce((s, o) => s + o.qty!, 0);
  expect(received).toBe(60); // 12 × 5 exactly fill the PO: none refused, none double counted
  const atp = (await api.atp('C2')).body.skus[0];
  expect(atp.onHand).toBe(60);
  expect(atp.reserved).toBeLessThanOrEqual(atp.onHand);
  await checkInvariants(t.db.url, 'C2');
  await api.consistent();
  const sql = postgres(t.db.url, { max: 1 });
  const [s] = await sql`select status, received_qty, allocated_qty from supply where id = ${a.id}`;
  await sql.end();
  expect(s).toMatchObject({ status: 'received', received_qty: 60, allocated_qty: 0 });
});

it('short picks racing with reservations, releases and receipts keep every invariant', async () => {
  await api.put('C3', 'DC1', { onHand: 40 });
  await api.put('C3', 'DC2', { onHand: 20 });
  const po = (await api.supply({ sku: 'C3', location: 'DC2', qty: 30, expectedAt: day(4) })).body;
  const early = await Promise.all(Array.from({ length: 20 }, (_, i) => api.reserve({ orderRef: `e${i}`, channel: i % 2 ? 'web' : 'mkt', lines: [{ sku: 'C3', qty: 2 }] })));
  expect(early.filter((r) => r.status !== 201).map((r) => [r.status, r.body])).toEqual([]);
  const ops: Promise<{ status: number; kind: string }>[] = [];
  // 8 short picks of 2 missing units each at DC1 (expected/found as deltas: 10 → 8)
  for (let i = 0; i < 8; i++) {
    ops.push(
      api
        .call('POST', '/v1/short-picks', { sku: 'C3', location: 'DC1', expectedQty: 10, foundQty: 8, reservationId: early[i]!.body.id, reason: 'race' })
        .then((r) => ({ status: r.status, kind: 'short-pick' })),
    );
  }
  for (let i = 0; i < 40; i++) {
    ops.push(api.reserve({ orderRef: `r${i}`, channel: i % 2 ? 'web' : 'mkt', lines: [{ sku: 'C3', qty: 2 }], allowBackorder: i % 3 === 0 }).then((r) => ({ status: r.status, kind: 'reserve' })));
  }
  for (let i = 10; i < 16; i++) ops.push(api.call('POST', `/v1/reservations/${early[i]!.body.id}/release`, {}).then((r) => ({ status: r.status, kind: 'release' })));
  for (let i = 0; i < 3; i++) ops.push(api.receive(po.id, { qty: 10 }).then((r) => ({ status: r.status, kind: 'receive' })));
  const out = await Promise.all(ops);
  for (const o of out) expect([200, 201, 409], `${o.kind} → ${o.status}`).toContain(o.status);
  expect(out.filter((o) => o.kind === 'short-pick').every((o) => o.status === 201)).toBe(true);
  const atp = (await api.atp('C3')).body.skus[0];
  const loc = (l: string) => atp.locations.find((x: { location: string }) => x.location === l);
  expect(loc('DC1').onHand).toBe(40 - 8 * 2);
  expect(loc('DC2').onHand).toBe(20 + 30);
  await checkInvariants(t.db.url, 'C3');
  await api.consistent();
});
