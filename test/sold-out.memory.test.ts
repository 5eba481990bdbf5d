/**
 * Invariant proven (pure, model-based with fast-check): the sold-out memory can only refuse, and
 * it refuses a request exactly when one of its SKUs was marked sold out by a batch that started in
 * the current generation (no invalidation since), less than the TTL ago, and the request cannot
 * backorder. Anything else — never marked, invalidated (restock, release, expiry…), expired, or a
 * stale mark from a batch that began before an invalidation — goes to the database.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { SoldOutMemory } from '../src/reads/sold-out.js';

type Op =
  | { t: 'mark'; sku: number; stale: boolean }
  | { t: 'invalidate' }
  | { t: 'tick'; ms: number }
  | { t: 'forget'; sku: number }
  | { t: 'ask'; skus: number[]; backorder: boolean };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('mark' as const), sku: fc.nat(4), stale: fc.boolean() }),
  fc.record({ t: fc.constant('invalidate' as const) }),
  fc.record({ t: fc.constant('tick' as const), ms: fc.nat(150) }),
  fc.record({ t: fc.constant('forget' as const), sku: fc.nat(4) }),
  fc.record({ t: fc.constant('ask' as const), skus: fc.array(fc.nat(4), { minLength: 1, maxLength: 4 }), backorder: fc.boolean() }),
);

it('refuses exactly when the model says a line is known sold out; never accepts', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 200 }), fc.array(op, { maxLength: 80 }), (ttl, ops) => {
      let now = 0;
      const mem = new SoldOutMemory({ ttlMs: ttl, now: () => now });
      const model = new Map<number, number>(); // sku → expires at
      for (const o of ops) {
        if (o.t === 'mark') {
          // a stale batch started under an older generation (an invalidation happened since)
          const gen = mem.generation;
          if (o.stale) mem.invalidate(), model.clear();
          mem.mark(`S${o.sku}`, gen);
          if (!o.stale && ttl > 0) model.set(o.sku, now + ttl);
        } else if (o.t === 'invalidate') {
          mem.invalidate();
          model.clear();
        } else if (o.t === 'tick') now += o.ms;
        else if (o.t === 'forget') {
          mem.forget(`S${o.sku}`);
          model.delete(o.sku);
        } else {
          const req = { lines: o.skus.map((s) => ({ sku: `S${s}`, qty: 1 })), allowBackorder: o.backorder };
          const expected = o.backorder ? [] : [...new Set(o.skus)].filter((s) => (model.get(s) ?? -1) > now);
          // what the read path confirms before the allocator asks (src/reads/reader.ts)
          expect(mem.suspects(req).sort()).toEqual(expected.map((s) => `S${s}`).sort());
          const short = mem.shortLines(req);
          if (expected.length === 0) expect(short).toBeUndefined();
          else {
            expect(short!.map((l) => l.sku).sort()).toEqual(expected.map((s) => `S${s}`).sort());
            for (const l of short!) {
              expect(l.available).toBe(0);
              expect(l.reason).toBe('insufficient-stock');
              expect(l.requested).toBe(o.skus.filter((s) => `S${s}` === l.sku).length);
            }
          }
        }
      }
    }),
    { numRuns: 300 },
  );
});

it('a TTL of 0 disables the memory', () => {
  const mem = new SoldOutMemory({ ttlMs: 0 });
  mem.mark('A', mem.generation);
  expect(mem.shortLines({ lines: [{ sku: 'A', qty: 1 }] })).toBeUndefined();
});
