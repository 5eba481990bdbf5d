/**
 * Inbound supply, backorders and promise dates, by example, through the HTTP app on a real
 * Postgres: in-transit never on hand, receipts fill backorders in promise order (partial too),
 * slips re-promise and record why, cancel → re-sourced or short, quality hold lowers ATP at once,
 * ship-complete vs per-line dates across two locations, channel location limits. The stock
 * invariants (test/helpers/supply.ts checkInvariants) are checked after every scenario.
 */
import postgres from 'postgres';
import { beforeAll, describe, expect, it } from 'vitest';
import { serviceFixture } from './helpers/service.js';
import { checkInvariants, client, day } from './helpers/supply.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '10' });
let api: ReturnType<typeof client>;

beforeAll(async () => {
  api = client(t.svc);
  await api.location('DC1', 1);
  await api.location('DC2', 2);
});

async function outbox(subject: string) {
  const sql = postgres(t.db.url, { max: 1 });
  const rows = await sql<{ type: string; data: Record<string, unknown> }[]>`select type, data from outbox_event where subject = ${subject} order by id`;
  await sql.end();
  return rows;
}

describe('supply and time-phased ATP', () => {
  it('inbound supply is never on hand: ATP now is unchanged, byDate is cumulative', async () => {
    await api.put('S1', 'DC1', { onHand: 5 });
    const a = await api.supply({ sku: 'S1', location: 'DC1', qty: 10, expectedAt: day(3), reference: 'PO-1' });
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ qty: 10, receivedQty: 0, allocatedQty: 0, freeQty: 10, status: 'open' });
    await api.supply({ sku: 'S1', location: 'DC2', qty: 4, expectedAt: day(1) });
    const atp = (await api.atp('S1')).body.skus[0];
    expect(atp).toMatchObject({ sku: 'S1', onHand: 5, reserved: 0, available: 5 });
    expect(atp.byDate).toEqual([
      { date: day(1), available: 9 },
      { date: day(3), available: 19 },
    ]);
    const dc2 = atp.locations.find((l: { location: string }) => l.location === 'DC2');
    expect(dc2).toMatchObject({ onHand: 0, available: 0, byDate: [{ date: day(1), available: 4 }] });
    expect(atp.inbound).toHaveLength(2);
    await checkInvariants(t.db.url, 'S1');
    await api.consistent();
  });

  it('a backorder takes on-hand first, then supply by date; ATP by date is net of it', async () => {
    await api.put('S2', 'DC1', { onHand: 5 });
    const po = (await api.supply({ sku: 'S2', location: 'DC1', qty: 10, expectedAt: day(5) })).body;
    const r = await api.reserve({ orderRef: 'o1', channel: 'web', lines: [{ sku: 'S2', qty: 8 }], allowBackorder: true });
    expect(r.status).toBe(201);
    const allocs = r.body.lines[0].allocations;
    expect(r.body.lines[0].status).toBe('backordered');
    expect(allocs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: 'DC1', qty: 5 }),
        expect.objectContaining({ location: 'DC1', qty: 3, supplyId: po.id, promisedAt: day(5) }),
      ]),
    );
    const atp = (await api.atp('S2')).body.skus[0];
    expect(atp.available).toBe(0);
    expect(atp.byDate).toEqual([{ date: day(5), available: 7 }]);
    expect((await outbox(r.body.id)).map((e) => e.type)).toEqual(['reservation.created', 'backorder.promised']);
    await checkInvariants(t.db.url, 'S2');
    await api.consistent();
  });

  it('receipts fill backorders in promise order, partially, and never count twice', async () => {
    const po = (await api.supply({ sku: 'S3', location: 'DC1', qty: 10, expectedAt: day(2) })).body;
    const r1 = (await api.reserve({ orderRef: 'a', channel: 'web', lines: [{ sku: 'S3', qty: 3 }], allowBackorder: true })).body;
    const r2 = (await api.reserve({ orderRef: 'b', channel: 'web', lines: [{ sku: 'S3', qty: 4 }], allowBackorder: true })).body;
    const rc = await api.receive(po.id, { qty: 5, reference: 'GRN-1' }, 'receipt-1');
    expect(rc.status).toBe(200);
    expect(rc.body.receipt).toMatchObject({ qty: 5, filledBackorders: 5, toStock: 0 });
    expect(rc.body.supply).toMatchObject({ receivedQty: 5, allocatedQty: 2, freeQty: 3, status: 'open' });
    const replay = await api.receive(po.id, { qty: 5, reference: 'GRN-1' }, 'receipt-1');
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const g1 = (await api.get(r1.id)).body;
    expect(g1.lines[0]).toMatchObject({ status: 'allocated', allocations: [{ location: 'DC1', qty: 3 }] });
    expect(g1.lines[0].allocations[0].supplyId).toBeUndefined();
    const g2 = (await api.get(r2.id)).body;
    expect(g2.lines[0].status).toBe('backordered');
    expect(g2.lines[0].allocations.map((a: { qty: number; supplyId?: string }) => [a.qty, !!a.supplyId]).sort()).toEqual([
      [2, false],
      [2, true],
    ]);
    let atp = (await api.atp('S3')).body.skus[0];
    expect(atp).toMatchObject({ onHand: 5, reserved: 5, available: 0 });
    expect(atp.byDate).toEqual([{ date: day(2), available: 3 }]);
    const tooMuch = await api.receive(po.id, { qty: 6 });
    expect(tooMuch.status).toBe(409);
    expect(tooMuch.body).toMatchObject({ code: 'over-receipt', remaining: 5 });
    // the rest arrives: r2 is filled, 3 units go to free stock; the supply is closed
    const rest = await api.receive(po.id, { qty: 5 });
    expect(rest.body.supply).toMatchObject({ receivedQty: 10, allocatedQty: 0, status: 'received' });
    atp = (await api.atp('S3')).body.skus[0];
    expect(atp).toMatchObject({ onHand: 10, reserved: 7, available: 3, byDate: [] });
    expect((await api.get(r2.id)).body.lines[0].status).toBe('allocated');
    const over = await api.receive(po.id, { qty: 1 });
    expect(over.status).toBe(409);
    expect(over.body.code).toBe('invalid-state');
    expect((await outbox(r2.id)).map((e) => e.type)).toEqual(['reservation.created', 'backorder.promised', 'backorder.filled', 'backorder.filled']);
    expect((await outbox(po.id)).map((e) => e.type)).toEqual(['supply.created', 'supply.received', 'supply.received']);
    await checkInvariants(t.db.url, 'S3');
    await api.consistent();
  });

  it('a PO slip moves promise dates (to earlier supply where it can) and records why', async () => {
    const a = (await api.supply({ sku: 'S4', location: 'DC1', qty: 6, expectedAt: day(2) })).body;
    const b = (await api.supply({ sku: 'S4', location: 'DC2', qty: 3, expectedAt: day(6) })).body;
    const r1 = (await api.reserve({ orderRef: 'a', channel: 'web', lines: [{ sku: 'S4', qty: 4 }], allowBackorder: true })).body;
    const r2 = (await api.reserve({ orderRef: 'b', channel: 'web', lines: [{ sku: 'S4', qty: 2 }], allowBackorder: true })).body;
    expect(r1.lines[0].allocations).toEqual([expect.objectContaining({ qty: 4, supplyId: a.id, promisedAt: day(2) })]);
    const slip = await api.patch(a.id, { expectedAt: day(10), reason: 'vendor delay' });
    expect(slip.status).toBe(200);
    expect(slip.body.supply.expectedAt).toBe(day(10));
    // r1 was promised first: it takes the 3 free units of B (day 6) and 1 stays on A (day 10); r2 stays on A
    const g1 = (await api.get(r1.id)).body.lines[0].allocations.filter((x: { qty: number }) => x.qty > 0);
    expect(g1).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ qty: 3, supplyId: b.id, promisedAt: day(6) }),
        expect.objectContaining({ qty: 1, supplyId: a.id, promisedAt: day(10) }),
      ]),
    );
    const g2 = (await api.get(r2.id)).body.lines[0].allocations.filter((x: { qty: number }) => x.qty > 0);
    expect(g2).toEqual([expect.objectContaining({ qty: 2, supplyId: a.id, promisedAt: day(10) })]);
    const ch = (await api.changes(r2.id)).body.changes;
    expect(ch).toHaveLength(1);
    expect(ch[0]).toMatchObject({ kind: 'backorder.repromised', reason: 'supply-slipped', detail: { note: 'vendor delay', expectedAt: { from: day(2), to: day(10) } } });
    const ev = await outbox(r2.id);
    expect(ev.at(-1)).toMatchObject({ type: 'backorder.repromised', data: { reason: 'supply-slipped' } });
    // advancing it again moves the promises that stayed on it
    const adv = await api.patch(a.id, { expectedAt: day(4) });
    expect(adv.body.affected.map((x: { reservationId: string }) => x.reservationId).sort()).toEqual([r1.id, r2.id].sort());
    const g2b = (await api.get(r2.id)).body.lines[0].allocations.filter((x: { qty: number }) => x.qty > 0);
    expect(g2b).toEqual([expect.objectContaining({ qty: 2, supplyId: a.id, promisedAt: day(4) })]);
    await checkInvariants(t.db.url, 'S4');
    await api.consistent();
  });

  it('cancel re-sources to stock on hand where it can, else short; a qty cut takes from the newest promise', async () => {
    const a = (await api.supply({ sku: 'S5', location: 'DC1', qty: 10, expectedAt: day(3) })).body;
    const r1 = (await api.reserve({ orderRef: 'a', channel: 'web', lines: [{ sku: 'S5', qty: 4 }], allowBackorder: true })).body;
    const r2 = (await api.reserve({ orderRef: 'b', channel: 'web', lines: [{ sku: 'S5', qty: 3 }], allowBackorder: true })).body;
    const r3 = (await api.reserve({ orderRef: 'c', channel: 'web', lines: [{ sku: 'S5', qty: 2 }], allowBackorder: true })).body;
    // cut to 7: r3 (newest) loses 2 and nothing else covers it → short
    const cut = await api.patch(a.id, { qty: 7 });
    expect(cut.status).toBe(200);
    expect(cut.body.affected).toEqual([expect.objectContaining({ reservationId: r3.id, kind: 'allocation.short' })]);
    const g3 = (await api.get(r3.id)).body;
    expect(g3.lines[0].status).toBe('short');
    expect(g3.lines[0].allocations[0]).toMatchObject({ qty: 0, shortQty: 2 });
    // stock appears at DC2; the PO is cancelled: r1 (promised first) gets the 5 on hand first
    await api.put('S5', 'DC2', { onHand: 5 });
    const c = await api.cancel(a.id, { reason: 'vendor out of business' });
    expect(c.status).toBe(200);
    expect(c.body.supply.status).toBe('cancelled');
    const g1 = (await api.get(r1.id)).body.lines[0];
    expect(g1.status).toBe('allocated');
    expect(g1.allocations.filter((x: { qty: number }) => x.qty > 0)).toEqual([expect.objectContaining({ location: 'DC2', qty: 4 })]);
    const g2 = (await api.get(r2.id)).body.lines[0];
    expect(g2.status).toBe('short');
    expect(g2.allocations.reduce((s: number, x: { qty: number }) => s + x.qty, 0)).toBe(1);
    expect(g2.allocations.reduce((s: number, x: { shortQty?: number }) => s + (x.shortQty ?? 0), 0)).toBe(2);
    expect((await outbox(r1.id)).at(-1)!.type).toBe('allocation.resourced');
    expect((await outbox(r2.id)).at(-1)!.type).toBe('allocation.short');
    expect((await api.changes(r2.id)).body.changes[0]).toMatchObject({ kind: 'allocation.short', reason: 'supply-cancelled' });
    const again = await api.cancel(a.id);
    expect(again.status).toBe(200);
    expect((await api.receive(a.id, { qty: 1 })).status).toBe(409);
    await checkInvariants(t.db.url, 'S5');
    await api.consistent();
  });
});

describe('promise', () => {
  it('a quality hold lowers ATP and the promise at once', async () => {
    await api.put('Q1', 'DC1', { onHand: 10 });
    await api.supply({ sku: 'Q1', location: 'DC1', qty: 20, expectedAt: day(7) });
    let p = (await api.promise({ channel: 'web', lines: [{ sku: 'Q1', qty: 8 }] })).body;
    expect(p.lines[0]).toMatchObject({ source: 'on-hand' });
    expect(p.promisedAt).toBe(p.asOf);
    await api.put('Q1', 'DC1', { onHand: 10, qualityHold: 4 });
    expect((await api.atp('Q1')).body.skus[0]).toMatchObject({ available: 6, byDate: [{ date: day(7), available: 26 }] });
    p = (await api.promise({ channel: 'web', lines: [{ sku: 'Q1', qty: 8 }] })).body;
    expect(p).toMatchObject({ promisedAt: day(7), lines: [{ promisedAt: day(7), source: 'mixed' }] });
  });

  it('ship-complete vs per-line dates across two locations; null with a reason when nothing covers', async () => {
    await api.put('PA', 'DC1', { onHand: 5 });
    await api.supply({ sku: 'PB', location: 'DC2', qty: 5, expectedAt: day(4) });
    const p = (await api.promise({ channel: 'web', lines: [{ sku: 'PA', qty: 2 }, { sku: 'PB', qty: 3 }], shipComplete: true })).body;
    expect(p.promisedAt).toBe(day(4));
    expect(p.lines[0]).toMatchObject({ sku: 'PA', promisedAt: p.asOf, shipAt: day(4), sources: [{ location: 'DC1', qty: 2 }] });
    expect(p.lines[1]).toMatchObject({ sku: 'PB', promisedAt: day(4), shipAt: day(4), source: 'inbound', sources: [{ location: 'DC2', qty: 3, expectedAt: day(4) }] });
    const none = (await api.promise({ channel: 'web', lines: [{ sku: 'PA', qty: 2 }, { sku: 'PB', qty: 30 }] })).body;
    expect(none).toMatchObject({ promisedAt: null, reason: 'not-enough-supply' });
    expect(none.lines[0].promisedAt).toBe(none.asOf);
    expect(none.lines[1]).toMatchObject({ promisedAt: null, reason: 'not-enough-supply' });
    // pinned to a location without the SKU: null
    const pinned = (await api.promise({ channel: 'web', lines: [{ sku: 'PA', qty: 1, location: 'DC2' }] })).body;
    expect(pinned.promisedAt).toBeNull();
    // read-only: nothing was reserved
    expect((await api.atp('PA')).body.skus[0].reserved).toBe(0);
  });

  it('prefers one covering location, then the fewest splits; a channel limited to some locations never gets others', async () => {
    await api.put('M1', 'DC1', { onHand: 3 });
    await api.put('M1', 'DC2', { onHand: 8 });
    let p = (await api.promise({ channel: 'web', lines: [{ sku: 'M1', qty: 6 }] })).body;
    expect(p.lines[0].sources).toEqual([{ location: 'DC2', qty: 6 }]);
    p = (await api.promise({ channel: 'web', lines: [{ sku: 'M1', qty: 10 }] })).body;
    expect(p.lines[0].sources).toHaveLength(2);
    await api.rules({ channels: { store: { tier: 2, locations: ['DC1'] } } });
    await api.supply({ sku: 'M1', location: 'DC2', qty: 50, expectedAt: day(2) });
    await api.supply({ sku: 'M1', location: 'DC1', qty: 5, expectedAt: day(9) });
    p = (await api.promise({ channel: 'store', lines: [{ sku: 'M1', qty: 6 }] })).body;
    expect(p.promisedAt).toBe(day(9));
    expect(p.lines[0].sources.every((s: { location: string }) => s.location === 'DC1')).toBe(true);
    const atp = (await api.atp('M1', 'store')).body.skus[0];
    expect(atp.channel.byDate).toEqual([
      { date: day(9), available: 8 },
    ]);
    p = (await api.promise({ channel: 'store', lines: [{ sku: 'M1', qty: 9 }] })).body;
    expect(p).toMatchObject({ promisedAt: null, reason: 'not-enough-supply' });
    await api.rules({});
  });
});
