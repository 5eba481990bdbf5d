/**
 * Issue 16 item 17: kits answered the way a reservation sources them, and in the caller's terms.
 *
 * Invariant proved by property: for random stock of two components at up to three locations, the
 * kit ATP of GET /v1/atp equals a plain-arithmetic oracle, and agrees with reservations — the
 * total kits reserve and one more is refused; each location's figure reserves pinned there and
 * one more is refused; every location's figure (pinned) plus `acrossLocations` (unpinned)
 * reserve together in one order, and one more kit is refused.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shortByCallerLine } from '../src/domain/caller-lines.js';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();

const stock = async (sku: string, location: string, onHand: number, extra: Record<string, unknown> = {}) => expect((await t.api.setStock(sku, location, onHand, extra)).status).toBe(200);
const kit = async (sku: string, components: { sku: string; qty: number }[]) => expect((await t.api.call('PUT', `/v1/kits/${sku}`, { components })).status).toBe(200);

describe('item 17: kits', () => {
  it('the issue example: 4 kits in total = 1 + 2 per location + 1 across locations, and reservations agree', async () => {
    for (const [sku, loc, n] of [['MUG17', 'K17-L1', 5], ['MUG17', 'K17-L2', 4], ['TEA17', 'K17-L1', 1], ['TEA17', 'K17-L2', 3]] as const) await stock(sku, loc, n);
    await kit('GIFT17', [{ sku: 'MUG17', qty: 2 }, { sku: 'TEA17', qty: 1 }]);
    const atp = (await t.api.atp(['GIFT17'], 'web')).body.skus[0];
    expect(atp.available).toBe(4);
    expect(atp.channel.available).toBe(4);
    expect(Object.fromEntries(atp.locations.map((l: { location: string; available: number }) => [l.location, l.available]))).toEqual({ 'K17-L1': 1, 'K17-L2': 2 });
    expect(atp.kit).toEqual({ components: [{ sku: 'MUG17', qty: 2 }, { sku: 'TEA17', qty: 1 }], acrossLocations: 1 });
    // all of them at once: pinned where the location's figure says, the rest unpinned
    const all = await t.api.reserve({
      orderRef: 'k17',
      channel: 'web',
      lines: [{ sku: 'GIFT17', qty: 1, location: 'K17-L1' }, { sku: 'GIFT17', qty: 2, location: 'K17-L2' }, { sku: 'GIFT17', qty: 1 }],
    });
    expect(all.status).toBe(201);
    expect((await t.api.atp(['GIFT17'])).body.skus[0]).toMatchObject({ available: 0, kit: { acrossLocations: 0 } });
    await expectInvariants(t.db.url, 'MUG17');
  });

  it('POST /v1/promise answers one line per line the caller wrote: the kit line, in kits, with its date', async () => {
    await stock('MUGP', 'DC1', 10);
    await stock('TEAP', 'DC1', 10);
    await stock('SPOONP', 'DC1', 10);
    await kit('GIFTP', [{ sku: 'MUGP', qty: 2 }, { sku: 'TEAP', qty: 1 }]);
    const when = new Date(Date.now() + 3 * 86400_000).toISOString();
    expect((await t.api.call('POST', '/v1/supply', { sku: 'TEAP', location: 'DC1', qty: 5, expectedAt: when }, { 'idempotency-key': 'teap-po' })).status).toBe(201);

    const p = await t.api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'SPOONP', qty: 1 }, { sku: 'GIFTP', qty: 2 }] });
    expect(p.status).toBe(200);
    expect(p.body.lines).toHaveLength(2);
    expect(p.body.lines[0]).toMatchObject({ lineNo: 1, sku: 'SPOONP', qty: 1, promisedAt: p.body.asOf, source: 'on-hand' });
    expect(p.body.lines[1]).toMatchObject({ lineNo: 2, sku: 'GIFTP', qty: 2, promisedAt: p.body.asOf, source: 'on-hand' });
    expect(p.body.lines[1].sources).toEqual([
      { sku: 'MUGP', location: 'DC1', qty: 4 },
      { sku: 'TEAP', location: 'DC1', qty: 2 },
    ]);
    // 12 kits need 12 TEA: 10 on hand + 2 inbound → the kit line is dated by the supply
    const later = await t.api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'GIFTP', qty: 5 }, { sku: 'TEAP', qty: 7 }] });
    expect(later.status).toBe(200);
    expect(later.body.lines.map((l: { lineNo: number; sku: string; qty: number; source: string }) => [l.lineNo, l.sku, l.qty, l.source])).toEqual([
      [1, 'GIFTP', 5, 'on-hand'],
      [2, 'TEAP', 7, 'mixed'],
    ]);
    expect(later.body.promisedAt).toBe(new Date(when).toISOString());
    // refused as a whole: each caller line answered on its own, the kit as the kit
    const none = await t.api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'GIFTP', qty: 6 }, { sku: 'MUGP', qty: 1 }] });
    expect(none.status).toBe(200);
    expect(none.body.promisedAt).toBeNull();
    expect(none.body.lines.map((l: { lineNo: number; sku: string; qty: number; promisedAt: string | null }) => [l.lineNo, l.sku, l.qty, l.promisedAt === null])).toEqual([
      [1, 'GIFTP', 6, true],
      [2, 'MUGP', 1, false],
    ]);
  });

  it('a refused order of kits plus a line for one of their components names the kit line and the component line as written', async () => {
    await stock('MUGR', 'DC1', 7);
    await stock('TEAR', 'DC1', 10);
    await kit('GIFTR', [{ sku: 'MUGR', qty: 2 }, { sku: 'TEAR', qty: 1 }]);
    const r = await t.api.reserve({ orderRef: 'k17r', channel: 'web', lines: [{ sku: 'GIFTR', qty: 4 }, { sku: 'MUGR', qty: 2 }] });
    expect(r.status).toBe(409);
    expect(r.body.code).toBe('insufficient-stock');
    expect(r.body.lines).toEqual([
      { line: 0, sku: 'GIFTR', requested: 4, available: 3, reason: 'insufficient-stock', components: [{ sku: 'MUGR', requested: 8, available: 7, reason: 'insufficient-stock' }] },
      { line: 1, sku: 'MUGR', requested: 2, available: 7, reason: 'insufficient-stock' },
    ]);
    expect((await t.sql`select reserved from positions where sku in ('MUGR', 'TEAR')`).map((p) => p.reserved)).toEqual([0, 0]);
  });

  it('property: kit ATP equals the arithmetic oracle and what reservations can take', async () => {
    let run = 0;
    const locs = ['PL1', 'PL2', 'PL3'];
    const cell = fc.record({ onHand: fc.nat(12), hold: fc.nat(3), safety: fc.nat(2) });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.tuple(cell, cell), { minLength: 1, maxLength: 3 }),
        fc.tuple(fc.nat(6), fc.nat(6)),
        async (qa, qb, cells, [protectA, protectB]) => {
          const n = ++run;
          const [A, B, KIT] = [`PA${n}`, `PB${n}`, `PK${n}`];
          const avail: Record<string, number[]> = { [A]: [], [B]: [] };
          for (const [i, [a, b]] of cells.entries()) {
            for (const [sku, c] of [[A, a], [B, b]] as const) {
              const hold = Math.min(c.hold, c.onHand);
              await stock(sku, locs[i]!, c.onHand, { qualityHold: hold, safetyStock: c.safety });
              avail[sku]!.push(Math.max(0, c.onHand - hold - c.safety));
            }
          }
          await kit(KIT, [{ sku: A, qty: qa }, { sku: B, qty: qb }]);
          // the oracle: plain arithmetic on the stock written above
          const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
          const total = Math.min(Math.floor(sum(avail[A]!) / qa), Math.floor(sum(avail[B]!) / qb));
          const perLoc = cells.map((_, i) => Math.min(Math.floor(avail[A]![i]! / qa), Math.floor(avail[B]![i]! / qb)));
          const across = total - sum(perLoc);

          const atp = (await t.api.atp([KIT], 'web')).body.skus[0];
          expect(atp.available).toBe(total);
          expect(atp.channel.available).toBe(total);
          expect(atp.kit.acrossLocations).toBe(across);
          const shown = Object.fromEntries(atp.locations.map((l: { location: string; available: number }) => [l.location, l.available]));
          cells.forEach((_, i) => expect(shown[locs[i]!] ?? 0).toBe(perLoc[i]));

          const reserve = (lines: object[], channel = 'web') => t.api.reserve({ orderRef: KIT, channel, lines });
          const release = async (id: string) => expect((await t.api.release(id)).status).toBe(200);

          // a tier-2 channel must leave each component's protection for tier 1: its kit figure is
          // what its reservations get (oracle: the protected units taken off each component's total)
          const rules = { defaultTier: 3, channels: { web: { tier: 1 }, b2b: { tier: 2 } }, skus: { [A]: { protect: { '1': protectA } }, [B]: { protect: { '1': protectB } } } };
          expect((await t.api.call('PUT', '/v1/rules', rules)).status).toBe(200);
          const forB2b = Math.min(Math.floor(Math.max(0, sum(avail[A]!) - protectA) / qa), Math.floor(Math.max(0, sum(avail[B]!) - protectB) / qb));
          expect((await t.api.atp([KIT], 'b2b')).body.skus[0].channel.available).toBe(forB2b);
          expect((await reserve([{ sku: KIT, qty: forB2b + 1 }], 'b2b')).status).toBe(409);
          if (forB2b > 0) {
            const r = await reserve([{ sku: KIT, qty: forB2b }], 'b2b');
            expect(r.status).toBe(201);
            await release(r.body.id);
          }
          // the total, unpinned: reserves; one more does not
          expect((await reserve([{ sku: KIT, qty: total + 1 }])).status).toBe(409);
          if (total > 0) {
            const r = await reserve([{ sku: KIT, qty: total }]);
            expect(r.status).toBe(201);
            await release(r.body.id);
          }
          // each location's figure, pinned there: reserves; one more does not
          for (const [i, k] of perLoc.entries()) {
            expect((await reserve([{ sku: KIT, qty: k + 1, location: locs[i] }])).status).toBe(409);
            if (k > 0) {
              const r = await reserve([{ sku: KIT, qty: k, location: locs[i] }]);
              expect(r.status).toBe(201);
              await release(r.body.id);
            }
          }
          // everything at once: every location's figure pinned plus acrossLocations unpinned
          const lines = [...perLoc.flatMap((k, i) => (k > 0 ? [{ sku: KIT, qty: k, location: locs[i] }] : [])), ...(across > 0 ? [{ sku: KIT, qty: across }] : [])];
          if (lines.length > 0) {
            const r = await reserve(lines);
            expect(r.status).toBe(201);
            expect((await reserve([{ sku: KIT, qty: 1 }])).status).toBe(409);
            await release(r.body.id);
          }
        },
      ),
      { numRuns: 20 },
    );
    await expectInvariants(t.db.url, 'P');
  });

  it('refusals from the sold-out memory (one line per SKU, no caller index) are restated per caller line too', () => {
    const expanded = [
      { sku: 'M', qty: 4, kit: { sku: 'G', perKit: 2 }, line: 0 },
      { sku: 'T', qty: 2, kit: { sku: 'G', perKit: 1 }, line: 0 },
      { sku: 'M', qty: 1, line: 1 },
      { sku: 'X', qty: 3, line: 2 },
    ];
    expect(shortByCallerLine([{ sku: 'M', requested: 5, available: 0, reason: 'insufficient-stock' }], expanded)).toEqual([
      { line: 0, sku: 'G', requested: 2, available: 0, reason: 'insufficient-stock', components: [{ sku: 'M', requested: 4, available: 0, reason: 'insufficient-stock' }] },
      { line: 1, sku: 'M', requested: 1, available: 0, reason: 'insufficient-stock' },
    ]);
  });
});
