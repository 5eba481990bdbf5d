/**
 * Invariant proven: every state change others must know about writes exactly its event(s) to the
 * outbox in the same transaction, and a change that is refused or rolled back writes none.
 * Each step below diffs the outbox before/after and compares the multiset of event types; every
 * stored payload is validated against the zod schema of its type (src/contract/events.ts).
 * Also: the sold-out / reorder-point crossing rule as a property over random stock walks.
 */
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { inTransaction } from '../src/db/tx.js';
import { type AvailablePoint, type ProjectedPoint, reorderCrossings, soldOutCrossings } from '../src/events/stock.js';
import { parseEventData } from '../src/contract/events.js';
import { createService, type Service } from '../src/service.js';
import { setPosition } from '../src/services/stock/inventory.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pg: postgres.Sql;
let seen = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' }), { sweeper: false, relay: false });
  pg = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await pg?.end();
  await svc?.stop();
  await db?.drop();
});

const json = { 'content-type': 'application/json' };
let keyNo = 0;
const post = (path: string, body: unknown) =>
  client(svc.app).raw(path, { method: 'POST', headers: { ...json, 'idempotency-key': `k-${++keyNo}` }, body: JSON.stringify(body) });
const put = (path: string, body: unknown) => client(svc.app).raw(path, { method: 'PUT', headers: json, body: JSON.stringify(body) });

interface Row {
  id: number;
  type: string;
  subject: string;
  data: unknown;
}

/** Outbox rows written since the last call, each payload checked against its schema. */
async function newEvents(): Promise<Row[]> {
  const rows = await pg<Row[]>`select id::int as id, type, subject, data from outbox_event where id > ${seen} order by id`;
  for (const r of rows) {
    parseEventData(r.type, r.data);
    seen = Math.max(seen, r.id);
  }
  return rows;
}
const types = (rows: Row[]) => rows.map((r) => r.type).sort();

async function reserve(sku: string, qty: number, extra: Record<string, unknown> = {}) {
  const res = await post('/v1/reservations', { orderRef: `o-${keyNo}`, channel: 'web', lines: [{ sku, qty }], ...extra });
  return { status: res.status, body: (await res.json()) as { id: string; status: string } };
}

describe('each state change emits its event in the same transaction', () => {
  it('inventory adjusted, reservation created, reorder point crossed once, sold out', async () => {
    expect((await put('/v1/inventory/A/DC1', { onHand: 10, reorderPoint: 5, reorderQty: 20 })).status).toBe(200);
    let ev = await newEvents();
    expect(types(ev)).toEqual(['inventory.adjusted']);
    expect(ev[0]!.subject).toBe('A@DC1');

    const r1 = await reserve('A', 6); // projected 10 → 4: crosses to at-or-below 5
    expect(r1.status).toBe(201);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.created', 'sku.below_reorder_point']);
    expect(ev.find((e) => e.type === 'reservation.created')).toMatchObject({ subject: r1.body.id, data: { reservation: { id: r1.body.id, status: 'held' } } });
    expect(ev.find((e) => e.type === 'sku.below_reorder_point')).toMatchObject({
      subject: 'A@DC1',
      data: { sku: 'A', location: 'DC1', reorderPoint: 5, reorderQty: 20, projected: 4, onHand: 10, reserved: 6, inbound: 0, backordered: 0 },
    });

    const r2 = await reserve('A', 1); // still below: no second reorder event
    expect(r2.status).toBe(201);
    expect(types(await newEvents())).toEqual(['reservation.created']);

    const r3 = await reserve('A', 3); // available 3 → 0
    expect(r3.status).toBe(201);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.created', 'sku.sold_out']);
    expect(ev.find((e) => e.type === 'sku.sold_out')).toMatchObject({ subject: 'A', data: { sku: 'A' } });

    // refused: nothing written
    expect((await reserve('A', 1)).status).toBe(409);
    expect(await newEvents()).toEqual([]);
  });

  it('released (partial and full), committed, extended, expired', async () => {
    await put('/v1/inventory/B/DC1', { onHand: 100 });
    await newEvents();
    const r = await reserve('B', 10, { holdSeconds: 600 });
    expect(types(await newEvents())).toEqual(['reservation.created']);

    expect((await post(`/v1/reservations/${r.body.id}/release`, { lines: [{ sku: 'B', qty: 3 }] })).status).toBe(200);
    let ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.released']);
    expect(ev[0]).toMatchObject({ subject: r.body.id, data: { released: [{ sku: 'B', location: 'DC1', qty: 3 }], reservation: { status: 'held' } } });

    expect((await post(`/v1/reservations/${r.body.id}/extend`, { holdSeconds: 900 })).status).toBe(200);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.extended']);
    expect(ev[0]!.data).toMatchObject({ holdSeconds: 900 });

    expect((await post(`/v1/reservations/${r.body.id}/commit`, { lines: [{ sku: 'B', qty: 4 }] })).status).toBe(200);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.committed']);
    expect(ev[0]!.data).toMatchObject({ committed: [{ sku: 'B', location: 'DC1', qty: 4 }], reservation: { status: 'held' } });

    expect((await post(`/v1/reservations/${r.body.id}/release`, {})).status).toBe(200);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.released']);
    expect(ev[0]!.data).toMatchObject({ released: [{ qty: 3 }], reservation: { status: 'committed' } });

    // releasing it again is refused (it is committed: nothing is left to release): no event
    expect((await post(`/v1/reservations/${r.body.id}/release`, {})).status).toBe(409);
    expect(await newEvents()).toEqual([]);
    // commit of a non-held reservation is refused: no event
    expect((await post(`/v1/reservations/${r.body.id}/commit`, {})).status).toBe(409);
    expect(await newEvents()).toEqual([]);

    const e = await reserve('B', 5, { holdSeconds: 600 });
    await newEvents();
    await pg`update reservations set expires_at = now() - interval '1 second' where id = ${e.body.id}`;
    expect(await svc.sweep()).toBe(1);
    ev = await newEvents();
    expect(types(ev)).toEqual(['reservation.expired']);
    expect(ev[0]).toMatchObject({ subject: e.body.id, data: { released: [{ sku: 'B', location: 'DC1', qty: 5 }], reservation: { status: 'expired' } } });
  });

  it('cycle count: sold out and reorder crossing from the count itself; not repeated', async () => {
    await put('/v1/inventory/C/DC1', { onHand: 4 });
    await put('/v1/inventory/C/DC2', { onHand: 4, reorderPoint: 3 });
    await newEvents();
    await put('/v1/inventory/C/DC1', { onHand: 0 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted']); // DC2 still has 4
    await put('/v1/inventory/C/DC2', { onHand: 2 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.below_reorder_point']);
    await put('/v1/inventory/C/DC2', { onHand: 0 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.sold_out']);
    await put('/v1/inventory/C/DC2', { onHand: 0 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted']);
    await put('/v1/inventory/C/DC2', { onHand: 9 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted']);
    // raising the reorder point above the free stock is a crossing too
    await put('/v1/inventory/C/DC2', { onHand: 9, reorderPoint: 10 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.below_reorder_point']);
    // at the point counts as below; inbound supply counts toward projected stock
    await put('/v1/inventory/F/DC1', { onHand: 5, reorderPoint: 5 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.below_reorder_point']);
    await put('/v1/inventory/G/DC1', { onHand: 5, reorderPoint: 5 });
    await newEvents();
    const sup = await post('/v1/supply', { sku: 'G', location: 'DC1', qty: 10, expectedAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect(sup.status).toBe(201);
    expect(types(await newEvents())).toEqual(['supply.created']);
    await put('/v1/inventory/G/DC1', { onHand: 0 }); // projected 0 + 10 = 10 > 5: not below
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.sold_out']);
    const g = await reserve('G', 6, { allowBackorder: true }); // backorders 6 of the inbound: projected 4
    expect(g.status).toBe(201);
    const gev = await newEvents();
    expect(types(gev)).toEqual(['backorder.promised', 'reservation.created', 'sku.below_reorder_point']);
    expect(gev.find((e) => e.type === 'sku.below_reorder_point')!.data).toMatchObject({ projected: 4, inbound: 10, backordered: 6 });
    // a count refused (would overcommit) writes nothing
    await reserve('C', 5);
    await newEvents();
    expect((await put('/v1/inventory/C/DC2', { onHand: 1 })).status).toBe(409);
    expect(await newEvents()).toEqual([]);
  });

  it('supply created and cancelled: backorders re-planned, and the stock crossings they cause', async () => {
    await put('/v1/inventory/H/DC1', { onHand: 1, reorderPoint: 2 });
    expect(types(await newEvents())).toEqual(['inventory.adjusted', 'sku.below_reorder_point']); // projected 1 ≤ 2
    const due = new Date(Date.now() + 86_400_000).toISOString();
    const s1 = (await (await post('/v1/supply', { sku: 'H', location: 'DC1', qty: 10, expectedAt: due })).json()) as { id: string };
    expect(types(await newEvents())).toEqual(['supply.created']); // projected 11: above again
    const r = await reserve('H', 4, { allowBackorder: true }); // 1 on hand + 3 backordered: projected 11 − 4 = 7
    expect(r.status).toBe(201);
    expect(types(await newEvents())).toEqual(['backorder.promised', 'reservation.created', 'sku.sold_out']);
    // cancel: the backorder has nowhere to go (short); projected 1 − 1 + 0 = 0 ≤ 2: crossing
    expect((await post(`/v1/supply/${s1.id}/cancel`, { reason: 'vendor' })).status).toBe(200);
    const ev = await newEvents();
    expect(types(ev)).toEqual(['allocation.short', 'sku.below_reorder_point', 'supply.cancelled']);
    expect(ev.find((e) => e.type === 'allocation.short')).toMatchObject({ subject: r.body.id, data: { reason: 'supply-cancelled', supplyId: s1.id } });
  });

  it('short pick: the count, the record, the loser re-planned, and the reorder crossing it causes', async () => {
    await put('/v1/inventory/K/DC1', { onHand: 5, reorderPoint: 1 });
    const r = await reserve('K', 2);
    await newEvents();
    const sp = await post('/v1/short-picks', { sku: 'K', location: 'DC1', expectedQty: 5, foundQty: 1, reservationId: r.body.id, reason: 'empty bin' });
    expect(sp.status).toBe(201);
    const ev = await newEvents(); // payloads validated against their schemas in newEvents()
    expect(types(ev)).toEqual(['allocation.short', 'inventory.adjusted', 'shortpick.recorded', 'sku.below_reorder_point', 'sku.sold_out']);
    expect(ev.find((e) => e.type === 'inventory.adjusted')!.data).toMatchObject({ reason: 'short-pick', after: { onHand: 1 } });
    expect(ev.find((e) => e.type === 'allocation.short')).toMatchObject({ subject: r.body.id, data: { reason: 'short-pick' } });
  });

  it('a rolled-back transaction leaves no event', async () => {
    await expect(
      inTransaction(svc.database.db, async (tx) => {
        await setPosition(tx, { sku: 'D', location: 'DC1', onHand: 7 }, 'test', { clock: undefined });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await newEvents()).toEqual([]);
    const [p] = await pg`select count(*)::int as n from positions where sku = 'D'`;
    expect(p!.n).toBe(0);
  });

  it('concurrent reservations: exactly one reservation.created per accepted reservation, one sold_out', async () => {
    await put('/v1/inventory/E/DC1', { onHand: 30 });
    await newEvents();
    const results = await Promise.all(Array.from({ length: 60 }, () => reserve('E', 1)));
    const ok = results.filter((r) => r.status === 201).map((r) => r.body.id);
    expect(ok).toHaveLength(30);
    const ev = await newEvents();
    const created = ev.filter((e) => e.type === 'reservation.created').map((e) => e.subject);
    expect(created.sort()).toEqual(ok.sort());
    expect(ev.filter((e) => e.type === 'sku.sold_out')).toHaveLength(1);
    expect(ev).toHaveLength(31);
  });
});

describe('reservation.created refers to the stored answer instead of copying it', () => {
  it('its row holds no copy, and its data stays the first answer byte for byte after the reservation was released', async () => {
    await put('/v1/inventory/REF/DC1', { onHand: 5 });
    await newEvents();
    const res = await post('/v1/reservations', { orderRef: 'o-ref', channel: 'web', lines: [{ sku: 'REF', qty: 2 }] });
    expect(res.status).toBe(201);
    const first = await res.text();
    const id = (JSON.parse(first) as { id: string }).id;
    expect((await post(`/v1/reservations/${id}/release`, {})).status).toBe(200);
    const [row] = await pg<{ data: unknown; data_json: string }[]>`
      select o.data, e.data_json::text as data_json from outbox o join outbox_event e on e.id = o.id
      where o.type = 'reservation.created' and o.subject = ${id}`;
    // the row budget: no second copy of the reservation's JSON
    expect(row!.data).toBeNull();
    // the event's data is the 201's body as it was sent, not the released reservation
    expect(row!.data_json).toBe(`{"reservation" : ${first}}`);
    const data = JSON.parse(row!.data_json) as { reservation: { status: string } };
    expect(data.reservation).toEqual(JSON.parse(first));
    expect(data.reservation.status).toBe('held');
    parseEventData('reservation.created', data);
  });
});

describe('stock crossings (pure)', () => {
  const avail = (onHand: number, safetyStock = 0): AvailablePoint => ({ sku: 'S', location: 'L', onHand, reserved: 0, qualityHold: 0, safetyStock });
  const proj = (onHand: number, rp: number | null, inbound = 0): ProjectedPoint => ({
    sku: 'S',
    location: 'L',
    onHand,
    reserved: 0,
    inbound,
    backordered: 0,
    reorderPoint: rp,
    reorderQty: null,
  });

  it('a reorder event exactly at each crossing from > point to ≤ point; sold out exactly at each >0 → 0', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 12 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 10 }), fc.nat({ max: 3 }), (walk, rp, safety) => {
        let reorder = 0;
        let soldOut = 0;
        let expectedReorder = 0;
        let expectedSoldOut = 0;
        for (let i = 1; i < walk.length; i++) {
          const [a, b] = [walk[i - 1]!, walk[i]!];
          reorder += reorderCrossings([proj(a, rp)], [proj(b, rp)], new Date(0)).length;
          soldOut += soldOutCrossings([avail(a, safety)], [avail(b, safety)], new Date(0)).length;
          if (a > rp && b <= rp) expectedReorder++;
          if (Math.max(0, a - safety) > 0 && Math.max(0, b - safety) === 0) expectedSoldOut++;
        }
        expect(reorder).toBe(expectedReorder);
        expect(soldOut).toBe(expectedSoldOut);
      }),
    );
  });

  it('no reorder point, no reorder event; a position new or newly given a point counts as not below before', () => {
    expect(reorderCrossings([proj(5, null)], [proj(0, null)], new Date(0))).toEqual([]);
    expect(reorderCrossings([], [proj(2, 3)], new Date(0)).map((e) => e.type)).toEqual(['sku.below_reorder_point']);
    expect(reorderCrossings([proj(2, null)], [proj(2, 3)], new Date(0))).toHaveLength(1);
    expect(reorderCrossings([proj(0, 3, 9)], [proj(0, 3, 2)], new Date(0))).toHaveLength(1); // inbound cut
  });
});
