/**
 * The allocation decision on multi-line requests and corner cases the single-line model
 * (decision.model.test.ts) does not reach, each with its expected allocations worked out by hand:
 * pinned lines first, lines of one SKU sharing one budget and seeing each other's takes (on hand
 * and inbound), a line partly on hand chosen by fewest splits (not by rank), an empty supply
 * skipped, a refusal with mixed reasons, the view of one SKU among others.
 */
import { expect, it } from 'vitest';
import { channelAvailable, decideBatch, holdKey, type PositionState, type SupplyState } from '../../src/domain/allocate.js';
import { ChannelLimit, InsufficientStock } from '../../src/domain/errors.js';
import { DEFAULT_RULES, type RulesDocument } from '../../src/contract/rules.js';

const D1 = new Date(Date.UTC(2030, 0, 10));
const D2 = new Date(Date.UTC(2030, 0, 20));
const pos = (sku: string, location: string, onHand: number, rank: number): PositionState => ({ sku, location, rank, onHand, reserved: 0, qualityHold: 0, safetyStock: 0 });
const sup = (id: string, sku: string, location: string, free: number, expectedAt: Date): SupplyState => ({ id, sku, location, rank: 1, free, expectedAt });
const one = (r: ReturnType<typeof decideBatch>) => r.outcomes[0]!;

it('keys: holdKey joins its parts with a NUL', () => {
  expect(holdKey('A', 'web')).toBe('A\u0000web');
});

it('a pinned line is served before unpinned ones; the answer keeps the request’s line order', () => {
  // L1 (rank 1) has 3, L2 (rank 2) has 5. Unpinned first would take L1 and starve the pinned line.
  const r = one(decideBatch({ positions: [pos('A', 'L1', 3, 1), pos('A', 'L2', 5, 2)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3, location: 'L1' }] }]));
  expect(r).toEqual({
    ok: true,
    lines: [
      { lineNo: 1, sku: 'A', qty: 3, location: undefined, status: 'allocated', allocations: [{ location: 'L2', qty: 3 }] },
      { lineNo: 2, sku: 'A', qty: 3, location: 'L1', status: 'allocated', allocations: [{ location: 'L1', qty: 3 }] },
    ],
  });
});

it('lines of one SKU, both unpinned: served in line order, the second sees what the first took', () => {
  const r = one(decideBatch({ positions: [pos('A', 'L1', 4, 1), pos('A', 'L2', 4, 2)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }] }]));
  // line 1: L1 covers 3 (lowest rank); line 2: L1 has 1 left, L2 covers 3
  expect(r.ok && r.lines.map((l) => l.allocations)).toEqual([[{ location: 'L1', qty: 3 }], [{ location: 'L2', qty: 3 }]]);
  // three unpinned lines keep their order too
  const three = one(decideBatch({ positions: [pos('A', 'L1', 9, 1)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 1 }, { sku: 'A', qty: 2 }, { sku: 'A', qty: 3 }] }]));
  expect(three.ok && three.lines.map((l) => [l.lineNo, l.qty])).toEqual([[1, 1], [2, 2], [3, 3]]);
});

it('lines of one SKU share the channel’s budget: protection and caps count every line', () => {
  // tier 2 must leave protect[1] = 4 of 10: 6 may be taken in all, so 4 + 4 is refused ('protected')
  const rules: RulesDocument = { ...DEFAULT_RULES, version: 7, channels: { b2b: { tier: 2 }, capped: { tier: 1, maxUnits: 5 } }, protect: { '1': 4 } };
  const prot = one(decideBatch({ positions: [pos('A', 'L1', 10, 1)] }, rules, [{ channel: 'b2b', lines: [{ sku: 'A', qty: 4 }, { sku: 'A', qty: 4 }] }]));
  expect(prot.ok).toBe(false);
  expect(!prot.ok && prot.error).toBeInstanceOf(ChannelLimit);
  expect(!prot.ok && (prot.error as ChannelLimit).lines).toEqual([{ sku: 'A', requested: 4, available: 6, reason: 'protected' }]);
  expect(one(decideBatch({ positions: [pos('A', 'L1', 10, 1)] }, rules, [{ channel: 'b2b', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }] }])).ok).toBe(true);
  // a cap of 5: 3 + 3 is refused ('channel-cap'), also for a backorder
  const capped = one(
    decideBatch({ positions: [pos('A', 'L1', 10, 1)], supplies: [sup('s', 'A', 'L1', 10, D1)] }, rules, [
      { channel: 'capped', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }], allowBackorder: true },
    ]),
  );
  expect(!capped.ok && (capped.error as ChannelLimit).lines).toEqual([{ sku: 'A', requested: 3, available: 5, reason: 'channel-cap' }]);
});

it('lines of one SKU backordered against one supply see each other’s takes', () => {
  const supplies = [sup('s1', 'A', 'L1', 5, D1)];
  const r = one(decideBatch({ positions: [pos('A', 'L1', 0, 1)], supplies }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 3 }], allowBackorder: true }]));
  expect(r.ok).toBe(false);
  expect(!r.ok && r.error).toBeInstanceOf(InsufficientStock);
  const ok = decideBatch({ positions: [pos('A', 'L1', 0, 1)], supplies }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }, { sku: 'A', qty: 2 }], allowBackorder: true }]);
  expect(ok.outcomes[0]!.ok && ok.outcomes[0]!.lines.map((l) => l.allocations)).toEqual([
    [{ location: 'L1', qty: 3, supplyId: 's1', promisedAt: D1 }],
    [{ location: 'L1', qty: 2, supplyId: 's1', promisedAt: D1 }],
  ]);
  expect(ok.supplies[0]!.free).toBe(0);
});

it('an inbound supply with nothing free is skipped, not allocated zero units', () => {
  const supplies = [sup('s0', 'A', 'L1', 0, D1), sup('s1', 'A', 'L1', 5, D2)];
  const r = one(decideBatch({ positions: [pos('A', 'L1', 0, 1)], supplies }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 2 }], allowBackorder: true }]));
  expect(r.ok && r.lines[0]!.allocations).toEqual([{ location: 'L1', qty: 2, supplyId: 's1', promisedAt: D2 }]);
});

it('a line only partly on hand takes that part by fewest splits (largest first), not by rank; the rest inbound', () => {
  // L2 (rank 1) has 9, L1 (rank 2) has 10; tier 2 must leave 14 of 19: 5 on hand, 3 inbound
  const rules: RulesDocument = { ...DEFAULT_RULES, channels: { b2b: { tier: 2 } }, protect: { '1': 14 } };
  const r = one(
    decideBatch({ positions: [pos('A', 'L2', 9, 1), pos('A', 'L1', 10, 2)], supplies: [sup('s1', 'A', 'L1', 10, D1)] }, rules, [
      { channel: 'b2b', lines: [{ sku: 'A', qty: 8 }], allowBackorder: true },
    ]),
  );
  expect(r.ok && r.lines[0]).toMatchObject({
    status: 'backordered',
    allocations: [
      { location: 'L1', qty: 5 },
      { location: 'L1', qty: 3, supplyId: 's1', promisedAt: D1 },
    ],
  });
});

it('a refusal with one line short of stock and another held back by the rules is insufficient-stock', () => {
  const rules: RulesDocument = { ...DEFAULT_RULES, version: 2, channels: { b2b: { tier: 2 } }, protect: { '1': 5 } };
  const r = one(decideBatch({ positions: [pos('A', 'L1', 1, 1), pos('B', 'L1', 6, 1)] }, rules, [{ channel: 'b2b', lines: [{ sku: 'A', qty: 2 }, { sku: 'B', qty: 2 }] }]));
  expect(!r.ok && r.error).toBeInstanceOf(InsufficientStock);
  expect(!r.ok && (r.error as InsufficientStock).lines).toEqual([
    { sku: 'A', requested: 2, available: 0, reason: 'insufficient-stock' },
    { sku: 'B', requested: 2, available: 1, reason: 'protected' },
  ]);
});

it('without supplies in the state, a backorder-allowed request changes no supply; unknown SKUs are short', () => {
  const r = decideBatch({ positions: [pos('A', 'L1', 1, 1)] }, DEFAULT_RULES, [
    { channel: 'web', lines: [{ sku: 'A', qty: 1 }], allowBackorder: true },
    { channel: 'web', lines: [{ sku: 'Z', qty: 1 }], allowBackorder: true },
  ]);
  expect(r.supplies).toEqual([]);
  expect(r.outcomes.map((o) => o.ok)).toEqual([true, false]);
  expect(r.holds.get(holdKey('A', 'web'))).toBe(1);
});

it('channelAvailable counts only the SKU asked for, at the channel’s locations, less protection and cap', () => {
  const positions = [pos('A', 'L1', 5, 1), pos('A', 'L2', 4, 2), pos('B', 'L1', 7, 1)];
  const rules: RulesDocument = { ...DEFAULT_RULES, channels: { b2b: { tier: 2, locations: ['L2'], maxUnits: 3 } }, protect: { '1': 2 } };
  expect(channelAvailable(positions, DEFAULT_RULES, 'A', 'web', 0)).toEqual({ physical: 9, forChannel: 9, protectedUnits: 0, capRoom: Number.POSITIVE_INFINITY });
  // physical = L2 only (4); total 9 − 2 protected = 7; cap 3 − 1 held = 2
  expect(channelAvailable(positions, rules, 'A', 'b2b', 1)).toEqual({ physical: 4, forChannel: 2, protectedUnits: 2, capRoom: 2 });
  expect(channelAvailable(positions, rules, 'A', 'b2b', 5)).toEqual({ physical: 4, forChannel: 0, protectedUnits: 2, capRoom: 0 });
});

it('a batch of many requests of one tier is served in arrival order (greedy, plain arithmetic)', () => {
  const qty = (i: number) => ((i * 7) % 5) + 1;
  const requests = Array.from({ length: 120 }, (_, i) => ({ channel: i % 2 ? 'web' : 'app', lines: [{ sku: 'A', qty: qty(i) }] }));
  const got = decideBatch({ positions: [pos('A', 'L1', 150, 1)] }, DEFAULT_RULES, requests);
  let left = 150;
  const want = requests.map((_, i) => (qty(i) <= left ? ((left -= qty(i)), true) : false));
  expect(got.outcomes.map((o) => o.ok)).toEqual(want);
});

it('ties are broken by name: equal availability and rank split L1, L2, L3; equal rank covers from L1; equal date and rank take supply by id', () => {
  const split = one(decideBatch({ positions: [pos('A', 'L3', 2, 1), pos('A', 'L1', 2, 1), pos('A', 'L2', 2, 1)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 5 }] }]));
  expect(split.ok && split.lines[0]!.allocations).toEqual([
    { location: 'L1', qty: 2 },
    { location: 'L2', qty: 2 },
    { location: 'L3', qty: 1 },
  ]);
  const cover = one(decideBatch({ positions: [pos('A', 'L2', 5, 1), pos('A', 'L3', 5, 1), pos('A', 'L1', 5, 1)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }] }]));
  expect(cover.ok && cover.lines[0]!.allocations).toEqual([{ location: 'L1', qty: 3 }]);
  const supplies = [sup('s-b', 'A', 'L1', 2, D1), sup('s-c', 'A', 'L1', 2, D1), sup('s-a', 'A', 'L1', 2, D1)];
  const inbound = one(decideBatch({ positions: [], supplies }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 5 }], allowBackorder: true }]));
  expect(inbound.ok && inbound.lines[0]!.allocations.map((a) => [a.supplyId, a.qty])).toEqual([
    ['s-a', 2],
    ['s-b', 2],
    ['s-c', 1],
  ]);
  // a higher rank number loses to a lower one at equal availability, whatever the order of the rows
  const ranked = one(decideBatch({ positions: [pos('A', 'L1', 2, 3), pos('A', 'L2', 2, 2)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 3 }] }]));
  expect(ranked.ok && ranked.lines[0]!.allocations).toEqual([
    { location: 'L2', qty: 2 },
    { location: 'L1', qty: 1 },
  ]);
});

it('decided at `now`: an overdue supply is promised at now, a future one at its date; refusals name the caller’s line', () => {
  const now = new Date(Date.UTC(2030, 0, 15));
  const supplies = [sup('late', 'A', 'L1', 2, D1), sup('later', 'A', 'L1', 5, D2)];
  const r = one(decideBatch({ positions: [], supplies }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 4 }], allowBackorder: true }], now));
  expect(r.ok && r.lines[0]!.allocations.map((a) => [a.supplyId, a.qty, a.promisedAt])).toEqual([
    ['late', 2, now],
    ['later', 2, D2],
  ]);
  // exactly at its date: promised at its date
  const onTime = one(decideBatch({ positions: [], supplies: [sup('s', 'A', 'L1', 2, now)] }, DEFAULT_RULES, [{ channel: 'web', lines: [{ sku: 'A', qty: 1 }], allowBackorder: true }], now));
  expect(onTime.ok && onTime.lines[0]!.allocations[0]!.promisedAt).toEqual(now);
  const rules: RulesDocument = { ...DEFAULT_RULES, channels: { b2b: { locations: ['L1'] } } };
  const refused = one(
    decideBatch({ positions: [pos('A', 'L1', 1, 1), pos('A', 'L2', 9, 2)] }, rules, [
      { channel: 'b2b', lines: [{ sku: 'A', qty: 1, location: 'L2', line: 3 }, { sku: 'A', qty: 5, line: 4 }] },
    ]),
  );
  expect(!refused.ok && (refused.error as InsufficientStock).lines).toEqual([
    { sku: 'A', requested: 1, available: 0, reason: 'location-not-allowed', location: 'L2', line: 3 },
    { sku: 'A', requested: 5, available: 1, reason: 'insufficient-stock', line: 4 },
  ]);
});
