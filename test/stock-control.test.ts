/**
 * Replenishment signals, reconciliation against a warehouse snapshot, and the consistency check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { suggestedQty } from '../src/services/stock/stock-control.js';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();

describe('replenishment', () => {
  it('suggests whole lots that lift projected stock above the reorder point', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.nat(500), fc.integer({ min: 1, max: 200 }), (projected, point, lot) => {
        const q = suggestedQty(projected, point, lot);
        if (projected > point) expect(q).toBe(0);
        else {
          expect(q % lot).toBe(0);
          expect(projected + q).toBeGreaterThan(point);
          expect(projected + q - lot).toBeLessThanOrEqual(point); // no extra lot
        }
      }),
    );
  });

  it('a large accepted order moves a SKU below its reorder point at once; inbound supply counts', async () => {
    expect((await t.api.setStock('RP', 'DC1', 100, { reorderPoint: 30, reorderQty: 40 })).status).toBe(200);
    const list = async () => (await t.api.call('GET', '/v1/replenishment?sku=RP')).body.lines;
    expect(await list()).toEqual([]);
    const r = await t.api.reserve({ orderRef: 'big', channel: 'web', lines: [{ sku: 'RP', qty: 80 }] });
    expect(r.status).toBe(201);
    // not picked, not shipped: the accepted order alone moves projected stock to 20 ≤ 30
    expect(await list()).toEqual([
      { sku: 'RP', location: 'DC1', onHand: 100, inbound: 0, reserved: 80, backordered: 0, projected: 20, reorderPoint: 30, reorderQty: 40, suggestedQty: 40 },
    ]);
    // a purchase order already on its way is counted: 20 + 25 = 45 > 30
    await t.sql`insert into supply (id, sku, location, qty, expected_at) values (gen_random_uuid(), 'RP', 'DC1', 25, now() + interval '3 days')`;
    expect(await list()).toEqual([]);
    // ... but not once backorders have claimed it
    await t.sql`update supply set allocated_qty = 20 where sku = 'RP'`;
    expect((await list())[0]).toMatchObject({ inbound: 25, backordered: 20, projected: 25, suggestedQty: 40 });
    await t.sql`update supply set allocated_qty = 0 where sku = 'RP'`;
  });

  it('clearing the reorder point removes the position from the list', async () => {
    expect((await t.api.setStock('RP2', 'DC1', 1, { reorderPoint: 5, reorderQty: 10 })).status).toBe(200);
    expect((await t.api.call('GET', '/v1/replenishment?sku=RP2')).body.lines).toHaveLength(1);
    expect((await t.api.setStock('RP2', 'DC1', 1, { reorderPoint: null })).status).toBe(200);
    expect((await t.api.call('GET', '/v1/replenishment?sku=RP2')).body.lines).toEqual([]);
  });
});

describe('reconciliation', () => {
  it('reports exactly the gaps of a random snapshot, and applying it balances the ledger', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ onHand: fc.nat(20), counted: fc.option(fc.nat(20), { nil: undefined }), reserve: fc.nat(5) }), { minLength: 1, maxLength: 8 }),
        async (rows) => {
          const prefix = `RC${++run}_`;
          const truth = new Map<string, number>();
          const snapshot: { sku: string; location: string; onHand: number }[] = [];
          for (const [i, row] of rows.entries()) {
            const sku = `${prefix}${i}`;
            expect((await t.api.setStock(sku, 'WH', row.onHand)).status).toBe(200);
            const reserve = Math.min(row.reserve, row.onHand);
            if (reserve > 0) expect((await t.api.reserve({ orderRef: `${sku}-o`, channel: 'web', lines: [{ sku, qty: reserve }] })).status).toBe(201);
            if (row.counted !== undefined) snapshot.push({ sku, location: 'WH', onHand: row.counted });
            truth.set(sku, row.onHand);
          }
          if (snapshot.length === 0) return;
          const expected = snapshot.filter((s) => s.onHand !== truth.get(s.sku)).map((s) => ({ sku: s.sku, delta: s.onHand - truth.get(s.sku)! }));
          const dry = await t.api.call('POST', '/v1/reconciliations', { snapshot }, { 'idempotency-key': `${prefix}dry` });
          expect(dry.status).toBe(200);
          expect(dry.body.gaps.map((g: { sku: string; delta: number }) => ({ sku: g.sku, delta: g.delta }))).toEqual(expected);
          expect(dry.body.applied).toBe(0);
          const wet = await t.api.call('POST', '/v1/reconciliations', { snapshot, apply: true }, { 'idempotency-key': `${prefix}wet` });
          expect(wet.status).toBe(200);
          for (const g of wet.body.gaps) {
            const [p] = await t.sql`select on_hand from positions where sku = ${g.sku} and location = 'WH'`;
            // every gap is booked: the count is now onHand; over-committed ones went through short-pick resolution
            expect(p!.on_hand).toBe(g.warehouseOnHand);
            expect(g.overCommitted).toBe(g.warehouseOnHand < g.reserved);
            expect(g.applied).toBe(true);
            expect(g.outcome).toBe(g.overCommitted ? 'short-pick' : 'adjusted');
          }
          await expectInvariants(t.db.url, prefix);
          const consistency = await t.api.call('GET', '/v1/consistency');
          expect(consistency.body.breaches).toEqual([]);
          // a second dry run finds nothing left to reconcile
          const after = await t.api.call('POST', '/v1/reconciliations', { snapshot }, { 'idempotency-key': `${prefix}again` });
          expect(after.body.gaps).toEqual([]);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('applying a count below what is reserved resolves the over-commitment by priority: the lowest tier loses first', async () => {
    const rules = await t.api.call('GET', '/v1/rules');
    const put = await t.api.call('PUT', '/v1/rules', { defaultTier: 3, channels: { vip: { tier: 1 }, mkt: { tier: 3 } } }, { 'if-match': rules.headers.get('etag')! });
    expect(put.status).toBe(200);
    expect((await t.api.setStock('PRIO', 'WHP', 10)).status).toBe(200);
    const mkt = await t.api.reserve({ orderRef: 'prio-mkt', channel: 'mkt', lines: [{ sku: 'PRIO', qty: 4 }] });
    const vip = await t.api.reserve({ orderRef: 'prio-vip', channel: 'vip', lines: [{ sku: 'PRIO', qty: 4 }] });
    expect([mkt.status, vip.status]).toEqual([201, 201]);
    // the warehouse finds 5: 8 are reserved, so 3 units must come off someone — the tier-3 marketplace order
    const r = await t.api.call('POST', '/v1/reconciliations', { snapshot: [{ sku: 'PRIO', location: 'WHP', onHand: 5 }], apply: true }, { 'idempotency-key': 'prio' });
    expect(r.status).toBe(200);
    expect(r.body.gaps).toEqual([expect.objectContaining({ sku: 'PRIO', overCommitted: true, applied: true, outcome: 'short-pick' })]);
    const held = async (id: string) => ((await t.api.get(id)).body.lines as { allocations: { qty: number }[] }[]).flatMap((l) => l.allocations).reduce((t, a) => t + a.qty, 0);
    expect(await held(vip.body.id)).toBe(4);
    expect(await held(mkt.body.id)).toBe(1);
    await expectInvariants(t.db.url, 'PRIO');
  });

  it('a complete snapshot counts unlisted positions at its locations as zero', async () => {
    expect((await t.api.setStock('CMP-A', 'WH9', 4)).status).toBe(200);
    expect((await t.api.setStock('CMP-B', 'WH9', 6)).status).toBe(200);
    const r = await t.api.call('POST', '/v1/reconciliations', { snapshot: [{ sku: 'CMP-A', location: 'WH9', onHand: 4 }], complete: true, apply: true }, { 'idempotency-key': 'cmp' });
    expect(r.body.gaps).toEqual([expect.objectContaining({ sku: 'CMP-B', serviceOnHand: 6, warehouseOnHand: 0, delta: -6, applied: true })]);
    const [l] = await t.sql`select delta_on_hand, reason from ledger where sku = 'CMP-B' order by id desc limit 1`;
    expect(l).toEqual({ delta_on_hand: -6, reason: 'reconciliation' });
  });

  it('a bad snapshot is refused naming the row', async () => {
    const r = await t.api.call('POST', '/v1/reconciliations', { snapshot: [{ sku: 'X', location: 'WH', onHand: -2 }] }, { 'idempotency-key': 'bad' });
    expect(r.status).toBe(400);
    expect(r.body.errors[0].field).toBe('body.snapshot.0.onHand');
  });
});

describe('consistency', () => {
  it('is ok on a healthy database and names each breach when a table is tampered with', async () => {
    const ok = await t.api.call('GET', '/v1/consistency');
    expect(ok.status).toBe(200);
    expect(ok.body.breaches).toEqual([]);
    expect(ok.body.ok).toBe(true);
    expect(ok.body.checked.positions).toBeGreaterThan(0);

    await t.sql`update positions set reserved = reserved + 1, on_hand = on_hand + 1 where sku = 'RP'`;
    const bad = await t.api.call('GET', '/v1/consistency');
    expect(bad.body.ok).toBe(false);
    expect(bad.body.breaches).toEqual(
      expect.arrayContaining([
        { check: 'reserved-vs-allocations', subject: 'RP@DC1', expected: 80, actual: 81 },
        { check: 'ledger-vs-onhand', subject: 'RP@DC1', expected: 100, actual: 101 },
      ]),
    );
    await t.sql`update positions set reserved = reserved - 1, on_hand = on_hand - 1 where sku = 'RP'`;
    expect((await t.api.call('GET', '/v1/consistency')).body.ok).toBe(true);
  });
});
