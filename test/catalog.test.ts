/**
 * Kits and units of measure: a kit line reserves every component all-or-nothing, summed with
 * other lines for the same components; release/commit work through the kit; pack units convert
 * to whole base units or are refused naming the field. Concurrency: kits and their components
 * reserved at once never oversell a component.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '20' });

const reservedOf = async (sku: string) => (await t.sql`select coalesce(sum(reserved), 0)::int as r from positions where sku = ${sku}`)[0]!.r as number;

describe('kits', () => {
  it('reserves every component atomically, summed with other lines for the same component', async () => {
    expect((await t.api.setStock('K-A', 'DC1', 10)).status).toBe(200);
    expect((await t.api.setStock('K-B', 'DC1', 10)).status).toBe(200);
    const put = await t.api.call('PUT', '/v1/kits/BUNDLE', { components: [{ sku: 'K-A', qty: 1 }, { sku: 'K-B', qty: 2 }] });
    expect(put.status).toBe(200);
    expect((await t.api.call('GET', '/v1/kits/BUNDLE')).body).toEqual({ sku: 'BUNDLE', components: [{ sku: 'K-A', qty: 1 }, { sku: 'K-B', qty: 2 }] });

    const r = await t.api.reserve({ orderRef: 'kit-1', channel: 'web', lines: [{ sku: 'BUNDLE', qty: 3 }, { sku: 'K-B', qty: 2 }] });
    expect(r.status).toBe(201);
    expect(r.body.lines).toEqual([
      expect.objectContaining({ sku: 'K-A', qty: 3, kit: { sku: 'BUNDLE', perKit: 1 } }),
      expect.objectContaining({ sku: 'K-B', qty: 6, kit: { sku: 'BUNDLE', perKit: 2 } }),
      expect.objectContaining({ sku: 'K-B', qty: 2 }),
    ]);
    expect(await reservedOf('K-A')).toBe(3);
    expect(await reservedOf('K-B')).toBe(8);

    // one more kit fits (B: 2 left), the next does not — and takes nothing of A either
    expect((await t.api.reserve({ orderRef: 'kit-2', channel: 'web', lines: [{ sku: 'BUNDLE', qty: 1 }] })).status).toBe(201);
    const refused = await t.api.reserve({ orderRef: 'kit-3', channel: 'web', lines: [{ sku: 'BUNDLE', qty: 1 }] });
    expect(refused.status).toBe(409);
    // named as the caller wrote it: the kit line, in kits, with the component that falls short
    expect(refused.body.lines).toEqual([
      expect.objectContaining({ line: 0, sku: 'BUNDLE', requested: 1, available: 0, components: [expect.objectContaining({ sku: 'K-B', requested: 2, available: 0 })] }),
    ]);
    expect(await reservedOf('K-A')).toBe(4);

    // release one kit of the first reservation: its components by the stored composition
    const rel = await t.api.release(r.body.id, { lines: [{ sku: 'BUNDLE', qty: 1 }] });
    expect(rel.status).toBe(200);
    expect(await reservedOf('K-A')).toBe(3);
    expect(await reservedOf('K-B')).toBe(8);
    // commit the rest through the kit; the standalone K-B line stays held
    const com = await t.api.commit(r.body.id, { lines: [{ sku: 'BUNDLE', qty: 2 }] });
    expect(com.status).toBe(200);
    expect(com.body.status).toBe('held');
    const [a] = await t.sql`select on_hand, reserved from positions where sku = 'K-A'`;
    expect(a).toEqual({ on_hand: 8, reserved: 1 });
    await expectInvariants(t.db.url, 'K-');
  });

  it('release by kit takes from the kit lines; release by SKU takes from plain lines first', async () => {
    expect((await t.api.setStock('KL-X', 'DC1', 50)).status).toBe(200);
    expect((await t.api.call('PUT', '/v1/kits/KL-KIT', { components: [{ sku: 'KL-X', qty: 2 }] })).status).toBe(200);
    const r = await t.api.reserve({ orderRef: 'kl', channel: 'web', lines: [{ sku: 'KL-KIT', qty: 2 }, { sku: 'KL-X', qty: 3 }] });
    expect(r.status).toBe(201);
    const heldByLine = async () =>
      ((await t.api.get(r.body.id)).body.lines as { kit?: unknown; allocations: { qty: number }[] }[]).map((l) => [l.kit ? 'kit' : 'plain', l.allocations.reduce((n, a) => n + a.qty, 0)]);
    expect(await heldByLine()).toEqual([['kit', 4], ['plain', 3]]);
    expect((await t.api.release(r.body.id, { lines: [{ sku: 'KL-KIT', qty: 1 }] })).status).toBe(200);
    expect(await heldByLine()).toEqual([['kit', 2], ['plain', 3]]);
    expect((await t.api.release(r.body.id, { lines: [{ sku: 'KL-X', qty: 3 }] })).status).toBe(200);
    expect(await heldByLine()).toEqual([['kit', 2], ['plain', 0]]);
    await expectInvariants(t.db.url, 'KL-');
  });

  it('refuses kits of kits, a kit containing itself, and a kit with stock of its own', async () => {
    expect((await t.api.call('PUT', '/v1/kits/SELF', { components: [{ sku: 'SELF', qty: 1 }] })).body.errors[0].field).toBe('body.components.0.sku');
    expect((await t.api.call('PUT', '/v1/kits/OUTER', { components: [{ sku: 'BUNDLE', qty: 1 }] })).status).toBe(409);
    expect((await t.api.setStock('STOCKED', 'DC1', 1)).status).toBe(200);
    expect((await t.api.call('PUT', '/v1/kits/STOCKED', { components: [{ sku: 'K-A', qty: 1 }] })).status).toBe(409);
    expect((await t.api.call('GET', '/v1/kits/NOKIT')).status).toBe(404);
  });

  it('property: kits and components reserved concurrently never oversell a component', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({ a: fc.nat(15), b: fc.nat(15), perA: fc.integer({ min: 1, max: 3 }), perB: fc.integer({ min: 1, max: 3 }) }),
        fc.array(fc.record({ kits: fc.nat(3), a: fc.nat(3), b: fc.nat(3) }).filter((o) => o.kits + o.a + o.b > 0), { minLength: 5, maxLength: 30 }),
        async (stock, orders) => {
          const p = `KP${++run}_`;
          const [A, B, KIT] = [`${p}A`, `${p}B`, `${p}KIT`];
          expect((await t.api.setStock(A, 'DC1', stock.a)).status).toBe(200);
          expect((await t.api.setStock(B, 'DC1', stock.b)).status).toBe(200);
          expect((await t.api.call('PUT', `/v1/kits/${KIT}`, { components: [{ sku: A, qty: stock.perA }, { sku: B, qty: stock.perB }] })).status).toBe(200);
          const replies = await Promise.all(
            orders.map((o, i) =>
              t.api.reserve({
                orderRef: `${p}${i}`,
                channel: 'web',
                lines: [
                  ...(o.kits ? [{ sku: KIT, qty: o.kits }] : []),
                  ...(o.a ? [{ sku: A, qty: o.a }] : []),
                  ...(o.b ? [{ sku: B, qty: o.b }] : []),
                ],
              }),
            ),
          );
          let needA = 0;
          let needB = 0;
          replies.forEach((r, i) => {
            expect([201, 409]).toContain(r.status);
            if (r.status === 201) {
              needA += orders[i]!.kits * stock.perA + orders[i]!.a;
              needB += orders[i]!.kits * stock.perB + orders[i]!.b;
            }
          });
          expect(await reservedOf(A)).toBe(needA);
          expect(await reservedOf(B)).toBe(needB);
          expect(needA).toBeLessThanOrEqual(stock.a);
          expect(needB).toBeLessThanOrEqual(stock.b);
          await expectInvariants(t.db.url, p);
        },
      ),
      { numRuns: 20 },
    );
  });
});

describe('units of measure', () => {
  it('converts pack units to base units and refuses what is not whole', async () => {
    expect((await t.api.setStock('U-1', 'DC1', 100)).status).toBe(200);
    const units = await t.api.call('PUT', '/v1/units/U-1', { units: [{ unit: 'case', factor: 12 }, { unit: 'pack', factor: 4 }] });
    expect(units.status).toBe(200);
    expect(units.body.units).toEqual([{ unit: 'each', factor: 1 }, { unit: 'pack', factor: 4 }, { unit: 'case', factor: 12 }]);

    const r = await t.api.reserve({ orderRef: 'u1', channel: 'web', lines: [{ sku: 'U-1', qty: 2, unit: 'case' }, { sku: 'U-1', qty: 0.5, unit: 'case' }, { sku: 'U-1', qty: 3 }] });
    expect(r.status).toBe(201);
    expect(r.body.lines.map((l: { qty: number; unit?: unknown }) => [l.qty, l.unit])).toEqual([
      [24, { name: 'case', factor: 12 }],
      [6, { name: 'case', factor: 12 }],
      [3, undefined],
    ]);
    expect(await reservedOf('U-1')).toBe(33);

    const frac = await t.api.reserve({ orderRef: 'u2', channel: 'web', lines: [{ sku: 'U-1', qty: 0.1, unit: 'case' }] });
    expect(frac.status).toBe(400);
    expect(frac.body.errors[0]).toEqual({ field: 'body.lines.0.qty', reason: expect.stringMatching(/whole number/) });
    const bad = await t.api.reserve({ orderRef: 'u3', channel: 'web', lines: [{ sku: 'U-1', qty: 1, unit: 'pallet' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('body.lines.0.unit');
    const noUnit = await t.api.reserve({ orderRef: 'u4', channel: 'web', lines: [{ sku: 'U-1', qty: 1.5 }] });
    expect(noUnit.status).toBe(400);
    expect(noUnit.body.errors[0].field).toBe('body.lines.0.qty');

    // release in packs
    expect((await t.api.release(r.body.id, { lines: [{ sku: 'U-1', qty: 2, unit: 'pack' }] })).status).toBe(200);
    expect(await reservedOf('U-1')).toBe(25);
  });

  it('property: unit round-trips never create or lose a base unit', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 48 }), fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), async (factor, halves) => {
        const sku = `UP${++run}`;
        expect((await t.api.setStock(sku, 'DC1', 10_000)).status).toBe(200);
        expect((await t.api.call('PUT', `/v1/units/${sku}`, { units: [{ unit: 'box', factor }] })).status).toBe(200);
        // quantities in half boxes: whole base units only when factor is even
        const lines = halves.map((h) => ({ sku, qty: h / 2, unit: 'box' }));
        const r = await t.api.reserve({ orderRef: sku, channel: 'web', lines });
        const base = halves.reduce((s, h) => s + (h * factor) / 2, 0);
        const whole = halves.every((h) => (h * factor) % 2 === 0);
        expect(r.status).toBe(whole ? 201 : 400);
        if (!whole) return;
        expect(await reservedOf(sku)).toBe(base);
        // give it back in base units, then check nothing is left and nothing was created
        expect((await t.api.release(r.body.id, { lines: [{ sku, qty: base }] })).status).toBe(200);
        const [p] = await t.sql`select on_hand, reserved from positions where sku = ${sku}`;
        expect(p).toEqual({ on_hand: 10_000, reserved: 0 });
      }),
      { numRuns: 25 },
    );
  });
});

describe('ATP of kits and in pack units', () => {
  it('a kit is available as the fewest whole kits its components allow, now, per location and by date', async () => {
    for (const [sku, loc, n] of [['KA-1', 'DC1', 7], ['KA-2', 'DC1', 9], ['KA-1', 'DC2', 4], ['KA-2', 'DC2', 1]] as const) expect((await t.api.setStock(sku, loc, n)).status).toBe(200);
    expect((await t.api.call('PUT', '/v1/kits/KA-KIT', { components: [{ sku: 'KA-1', qty: 1 }, { sku: 'KA-2', qty: 3 }] })).status).toBe(200);
    const when = new Date(Date.now() + 5 * 86400_000).toISOString();
    const s = await t.api.call('POST', '/v1/supply', { sku: 'KA-2', location: 'DC2', qty: 8, expectedAt: when }, { 'idempotency-key': 'ka-po' });
    expect(s.status).toBe(201);
    const atp = await t.api.atp(['KA-KIT', 'KA-2']);
    expect(atp.status).toBe(200);
    const kit = atp.body.skus[0];
    // total: KA-1 11 → 11 kits; KA-2 10 → 3 kits ⇒ 3 now; by the PO date KA-2 18 → 6 kits
    expect(kit).toMatchObject({ sku: 'KA-KIT', available: 3, kit: { components: [{ sku: 'KA-1', qty: 1 }, { sku: 'KA-2', qty: 3 }] } });
    expect(kit.byDate).toEqual([{ date: new Date(when).toISOString(), available: 6 }]);
    const byLoc = Object.fromEntries(kit.locations.map((l: { location: string; available: number }) => [l.location, l.available]));
    expect(byLoc).toEqual({ DC1: 3, DC2: 0 });
    expect(kit.locations.find((l: { location: string }) => l.location === 'DC2').byDate).toEqual([{ date: new Date(when).toISOString(), available: 3 }]);
    // reserving the kit moves its ATP exactly
    expect((await t.api.reserve({ orderRef: 'ka', channel: 'web', lines: [{ sku: 'KA-KIT', qty: 2 }] })).status).toBe(201);
    expect((await t.api.atp(['KA-KIT'])).body.skus[0].available).toBe(1);
  });

  it('availability in a pack unit is rounded down; an unknown unit is refused naming query.unit', async () => {
    expect((await t.api.setStock('PK-1', 'DC1', 30)).status).toBe(200);
    expect((await t.api.call('PUT', '/v1/units/PK-1', { units: [{ unit: 'case', factor: 12 }] })).status).toBe(200);
    const r = await t.api.call('GET', '/v1/atp?sku=PK-1&unit=case');
    expect(r.status).toBe(200);
    expect(r.body.skus[0]).toMatchObject({ available: 30, inUnit: { unit: 'case', factor: 12, available: 2 } });
    const bad = await t.api.call('GET', '/v1/atp?sku=PK-1&unit=pallet');
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toBe('query.unit');
  });
});
