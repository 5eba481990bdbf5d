/** The pure allocation decision: all-or-nothing, no oversell, protection and tier order. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideBatch, type PositionState } from '../src/domain/allocate.js';
import { ChannelLimit, InsufficientStock } from '../src/domain/errors.js';
import { DEFAULT_RULES, type RulesDocument } from '../src/contract/rules.js';

const pos = (location: string, onHand: number, rank = 1): PositionState => ({ sku: 'A', location, rank, onHand, reserved: 0, qualityHold: 0, safetyStock: 0 });

describe('decideBatch', () => {
  it('sums the same SKU over lines and refuses the whole request when short', () => {
    const { outcomes } = decideBatch({ positions: [pos('L1', 5)] }, DEFAULT_RULES, [
      { channel: 'web', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }] },
    ]);
    expect(outcomes[0]!.ok).toBe(false);
  });

  it('splits across locations when one cannot cover the line', () => {
    const { outcomes } = decideBatch({ positions: [pos('L1', 3, 1), pos('L2', 4, 2)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 6 }] }]);
    const o = outcomes[0]!;
    expect(o.ok && o.lines[0]!.allocations.reduce((s, a) => s + a.qty, 0)).toBe(6);
  });

  it('serves higher tiers first within a batch and keeps protected units for them', () => {
    const rules: RulesDocument = { ...DEFAULT_RULES, version: 1, channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect: { '1': 5 } };
    const { outcomes } = decideBatch({ positions: [pos('L1', 10)] }, rules, [
      { channel: 'mkt', lines: [{ sku: 'A', qty: 6 }] },
      { channel: 'web', lines: [{ sku: 'A', qty: 5 }] },
    ]);
    expect(outcomes[1]!.ok).toBe(true);
    expect(outcomes[0]!.ok).toBe(false);
  });

  it('a backorder held back by a cap is a channel-limit refusal, not insufficient stock', () => {
    const rules: RulesDocument = { ...DEFAULT_RULES, version: 2, channels: { mkt: { tier: 3, maxUnits: 5 } } };
    const supplies = [{ id: 's1', sku: 'A', location: 'L1', rank: 1, free: 20, expectedAt: new Date(Date.UTC(2030, 0, 5)) }];
    const capped = decideBatch({ positions: [pos('L1', 0)], supplies }, rules, [{ channel: 'mkt', lines: [{ sku: 'A', qty: 8 }], allowBackorder: true }]).outcomes[0]!;
    expect(capped.ok).toBe(false);
    expect(!capped.ok && capped.error).toBeInstanceOf(ChannelLimit);
    expect(!capped.ok && (capped.error as ChannelLimit).lines).toEqual([expect.objectContaining({ sku: 'A', requested: 8, reason: 'channel-cap' })]);
    // within the cap it is backordered; beyond the supply it is plain insufficient stock
    expect(decideBatch({ positions: [pos('L1', 0)], supplies }, rules, [{ channel: 'mkt', lines: [{ sku: 'A', qty: 5 }], allowBackorder: true }]).outcomes[0]!.ok).toBe(true);
    const short = decideBatch({ positions: [pos('L1', 0)], supplies }, DEFAULT_RULES, [{ channel: 'mkt', lines: [{ sku: 'A', qty: 21 }], allowBackorder: true }]).outcomes[0]!;
    expect(!short.ok && short.error).toBeInstanceOf(InsufficientStock);
  });

  it('never oversells any position: exactly what a first-come model grants, every unit accounted for (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 50 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ qty: fc.integer({ min: 1, max: 30 }), ch: fc.constantFrom('web', 'mkt') }), { maxLength: 30 }),
        (stock, reqs) => {
          const positions = stock.map((s, i) => pos(`L${i}`, s, i));
          const r = decideBatch({ positions }, DEFAULT_RULES, reqs.map((q) => ({ channel: q.ch, lines: [{ sku: 'A', qty: q.qty }] })));
          // the model: no rules (both channels the default tier), so arrival order; a request is
          // granted whole iff it fits in what is left across all locations
          let left = stock.reduce((a, b) => a + b, 0);
          const expected = reqs.map((q) => (q.qty <= left ? ((left -= q.qty), true) : false));
          expect(r.outcomes.map((o) => o.ok)).toEqual(expected);
          const allocatedAt = new Map<string, number>();
          r.outcomes.forEach((o, i) => {
            if (!o.ok) return;
            const line = o.lines[0]!;
            expect(line.qty).toBe(reqs[i]!.qty);
            expect(line.allocations.reduce((n, a) => n + a.qty, 0)).toBe(reqs[i]!.qty);
            for (const a of line.allocations) allocatedAt.set(a.location, (allocatedAt.get(a.location) ?? 0) + a.qty);
          });
          // per position: reserved is exactly what was allocated there, and the unclamped
          // availability (onHand − reserved, nothing held or kept back here) is exactly the rest
          for (const [i, p] of r.positions.entries()) {
            expect(p.onHand).toBe(stock[i]);
            expect(p.reserved).toBe(allocatedAt.get(p.location) ?? 0);
            expect(p.onHand - p.reserved - p.qualityHold - p.safetyStock).toBe(stock[i]! - (allocatedAt.get(p.location) ?? 0));
            expect(p.onHand - p.reserved).toBeGreaterThanOrEqual(0); // no oversell, unclamped
          }
          expect(r.positions.reduce((n, p) => n + p.onHand - p.reserved, 0)).toBe(left);
        },
      ),
    );
  });
});
