/**
 * Promise dates and re-planning (pure), worked examples with the expected dates, sources,
 * reasons and quantities written out by hand:
 * - a line covered on hand is promised `now` ('on-hand'); one reaching into inbound supply the
 *   latest expected date it needs ('mixed' or 'inbound'; a past-due supply still promises `now`);
 *   the order date is the latest line date, or null with the reason of the first short line, and
 *   then each line is promised on its own;
 * - replan gives each displaced quantity, in order, as much as a backorder-allowed line of its
 *   channel could take (on hand first, then supply by date), each seeing what the ones before took;
 *   the rest is short.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { holdKey, type PositionState, type SupplyState } from '../../src/domain/allocate.js';
import { promiseOrder } from '../../src/domain/promise.js';
import { replan } from '../../src/domain/replan.js';
import { DEFAULT_RULES, type RulesDocument } from '../../src/contract/rules.js';

const NOW = new Date(Date.UTC(2030, 0, 1));
const D1 = new Date(Date.UTC(2030, 0, 10));
const D2 = new Date(Date.UTC(2030, 0, 20));
const D3 = new Date(Date.UTC(2030, 1, 1));
const PAST = new Date(Date.UTC(2029, 11, 1));

const pos = (sku: string, location: string, onHand: number, rank = 1): PositionState => ({ sku, location, rank, onHand, reserved: 0, qualityHold: 0, safetyStock: 0 });
const sup = (id: string, sku: string, location: string, free: number, expectedAt: Date, rank = 1): SupplyState => ({ id, sku, location, rank, free, expectedAt });

const state = () => ({
  positions: [pos('A', 'L1', 5, 1), pos('A', 'L2', 0, 2)],
  supplies: [sup('s1', 'A', 'L2', 10, D1, 2), sup('s2', 'A', 'L1', 10, D2, 1), sup('s3', 'B', 'L1', 4, D3, 1)],
});

it('promiseOrder: on hand: now; into supply: the latest date needed (mixed / inbound); the order: the latest line', () => {
  const one = promiseOrder(state(), DEFAULT_RULES, 'web', [{ sku: 'A', qty: 3 }], NOW);
  expect(one).toEqual({ promisedAt: NOW, lines: [{ lineNo: 1, sku: 'A', qty: 3, promisedAt: NOW, source: 'on-hand', allocations: [{ location: 'L1', qty: 3 }] }] });

  const mixed = promiseOrder(state(), DEFAULT_RULES, 'web', [{ sku: 'A', qty: 18 }], NOW);
  expect(mixed.promisedAt).toEqual(D2);
  expect(mixed.lines[0]).toEqual({
    lineNo: 1,
    sku: 'A',
    qty: 18,
    promisedAt: D2,
    source: 'mixed',
    allocations: [
      { location: 'L1', qty: 5 },
      { location: 'L2', qty: 10, supplyId: 's1', promisedAt: D1 },
      { location: 'L1', qty: 3, supplyId: 's2', promisedAt: D2 },
    ],
  });

  const order = promiseOrder(state(), DEFAULT_RULES, 'web', [{ sku: 'A', qty: 8 }, { sku: 'B', qty: 2, location: 'L1' }], NOW);
  expect(order.promisedAt).toEqual(D3);
  expect(order.reason).toBeUndefined();
  expect(order.lines.map((l) => [l.lineNo, l.promisedAt, l.source, l.location])).toEqual([
    [1, D1, 'mixed', undefined],
    [2, D3, 'inbound', 'L1'],
  ]);
  expect('location' in order.lines[0]!).toBe(false);
});

it('promiseOrder: the order date is the latest line date, whichever line it is', () => {
  const p = promiseOrder(state(), DEFAULT_RULES, 'web', [{ sku: 'B', qty: 1 }, { sku: 'A', qty: 3 }], NOW);
  expect(p.lines.map((l) => l.promisedAt)).toEqual([D3, NOW]);
  expect(p.promisedAt).toEqual(D3);
});

it('promiseOrder: a supply already past due promises now, still from inbound', () => {
  const s = { positions: [pos('A', 'L1', 0)], supplies: [sup('late', 'A', 'L1', 5, PAST)] };
  const p = promiseOrder(s, DEFAULT_RULES, 'web', [{ sku: 'A', qty: 2 }], NOW);
  expect(p.promisedAt).toEqual(NOW);
  expect(p.lines[0]).toMatchObject({ promisedAt: NOW, source: 'inbound' });
});

it('promiseOrder: nothing covers the whole order: null with the reason; each line promised on its own', () => {
  const p = promiseOrder(state(), DEFAULT_RULES, 'web', [{ sku: 'A', qty: 30 }, { sku: 'B', qty: 2 }], NOW);
  expect(p.promisedAt).toBeNull();
  expect(p.reason).toBe('not-enough-supply');
  expect(p.detail).toBe('A: on hand and inbound supply in the allowed locations do not cover 30 (on hand for this channel: 5)');
  expect(p.lines[0]).toEqual({
    lineNo: 1,
    sku: 'A',
    qty: 30,
    promisedAt: null,
    allocations: [],
    reason: 'not-enough-supply',
    detail: 'A: on hand and inbound supply in the allowed locations do not cover 30 (on hand for this channel: 5)',
  });
  expect(p.lines[1]).toEqual({ lineNo: 2, sku: 'B', qty: 2, promisedAt: D3, source: 'inbound', allocations: [{ location: 'L1', qty: 2, supplyId: 's3', promisedAt: D3 }] });
});

it('promiseOrder: the reasons: a location the channel may not use, protection, a cap — each named with what the channel could take', () => {
  const rules: RulesDocument = {
    ...DEFAULT_RULES,
    version: 5,
    channels: { b2b: { tier: 2, locations: ['L1'] }, mkt: { tier: 1, maxUnits: 2 }, low: { tier: 2 } },
    protect: { '1': 5 },
  };
  const s = { positions: [pos('A', 'L1', 5), pos('A', 'L2', 5, 2)], supplies: [] };
  const where = promiseOrder(s, rules, 'b2b', [{ sku: 'A', qty: 1, location: 'L2' }], NOW);
  expect(where).toMatchObject({ promisedAt: null, reason: 'location-not-allowed', detail: 'A: location L2 is not allowed for this channel' });
  expect(where.lines[0]).toMatchObject({ promisedAt: null, reason: 'location-not-allowed', detail: 'A: location L2 is not allowed for this channel', location: 'L2' });
  // tier 2 must leave protect[1] = 5 of the 10 available: 5 may be taken, 6 may not
  expect(promiseOrder(s, rules, 'low', [{ sku: 'A', qty: 5 }], NOW).promisedAt).toEqual(NOW);
  const prot = promiseOrder(s, rules, 'low', [{ sku: 'A', qty: 6 }], NOW);
  expect(prot).toMatchObject({ promisedAt: null, reason: 'protected', detail: 'A: held back by channel rules (protected); on hand for this channel: 5' });
  const cap = promiseOrder(s, rules, 'mkt', [{ sku: 'A', qty: 3 }], NOW);
  expect(cap).toMatchObject({ promisedAt: null, reason: 'channel-cap', detail: 'A: held back by channel rules (channel-cap); on hand for this channel: 2' });
  expect(cap.lines[0]).toMatchObject({ reason: 'channel-cap', allocations: [], promisedAt: null });
});

it('promiseOrder: the same SKU on two lines is one demand: the order may fail where each line alone succeeds', () => {
  const s = { positions: [pos('A', 'L1', 5)], supplies: [] };
  const p = promiseOrder(s, DEFAULT_RULES, 'web', [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }], NOW);
  expect(p.promisedAt).toBeNull();
  expect(p.reason).toBe('not-enough-supply');
  expect(p.lines.map((l) => l.promisedAt)).toEqual([NOW, NOW]);
});

it('replan: in order, each displaced quantity takes what is left (on hand, then supply by date); the rest is short', () => {
  const s = { positions: [pos('A', 'L1', 10)], supplies: [sup('s1', 'A', 'L1', 4, D1)], holds: new Map([[holdKey('A', 'web'), 1]]) };
  const r = replan(s, DEFAULT_RULES, [
    { ref: 'r1', channel: 'web', sku: 'A', qty: 12 },
    { ref: 'r2', channel: 'web', sku: 'A', qty: 5 },
    { ref: 'r3', channel: 'app', sku: 'A', qty: 3 },
    { ref: 'r4', channel: 'web', sku: 'A', qty: 0 },
  ]);
  expect(r.results).toEqual([
    { ref: 'r1', sku: 'A', qty: 12, shortQty: 0, allocations: [{ location: 'L1', qty: 10 }, { location: 'L1', qty: 2, supplyId: 's1', promisedAt: D1 }] },
    { ref: 'r2', sku: 'A', qty: 5, shortQty: 3, allocations: [{ location: 'L1', qty: 2, supplyId: 's1', promisedAt: D1 }] },
    { ref: 'r3', sku: 'A', qty: 3, shortQty: 3, allocations: [] },
    { ref: 'r4', sku: 'A', qty: 0, shortQty: 0, allocations: [] },
  ]);
  expect(r.positions).toEqual([{ ...pos('A', 'L1', 10), reserved: 10 }]);
  expect(r.supplies).toEqual([{ ...sup('s1', 'A', 'L1', 4, D1), free: 0 }]);
  expect(r.holds.get(holdKey('A', 'web'))).toBe(1 + 12 + 2);
  expect(r.holds.get(holdKey('A', 'app'))).toBeUndefined();
  // the input is not mutated
  expect(s.positions[0]!.reserved).toBe(0);
  expect(s.supplies[0]!.free).toBe(4);
});

it('replan: a pinned line stays at its location; no state given means no supply and no holds', () => {
  const r = replan({ positions: [pos('A', 'L1', 3), pos('A', 'L2', 9, 2)] }, DEFAULT_RULES, [{ ref: 'p', channel: 'web', sku: 'A', qty: 5, location: 'L1' }]);
  expect(r.results).toEqual([{ ref: 'p', sku: 'A', qty: 5, shortQty: 2, allocations: [{ location: 'L1', qty: 3 }] }]);
  expect(r.supplies).toEqual([]);
  expect([...r.holds]).toEqual([[holdKey('A', 'web'), 3]]);
});

it('replan: covers exactly the largest quantity on hand + supply allow (property, plain arithmetic)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 30 }), (onHand, free, qty, cap) => {
      const rules: RulesDocument = { ...DEFAULT_RULES, channels: { c: { maxUnits: cap } } };
      const r = replan({ positions: [pos('A', 'L1', onHand)], supplies: [sup('s', 'A', 'L1', free, D1)] }, rules, [{ ref: 'x', channel: 'c', sku: 'A', qty }]);
      const covered = Math.min(qty, onHand + free, cap);
      const res = r.results[0]!;
      expect(res.shortQty).toBe(qty - covered);
      expect(res.allocations.reduce((n, a) => n + a.qty, 0)).toBe(covered);
      const fromStock = Math.min(covered, onHand);
      expect(r.positions[0]!.reserved).toBe(fromStock);
      expect(r.supplies[0]!.free).toBe(free - (covered - fromStock));
    }),
    { numRuns: 200 },
  );
});
