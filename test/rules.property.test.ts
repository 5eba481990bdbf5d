/**
 * Channel-priority rules, property-based, on the pure decision (`decideBatch`), under random rules
 * (tiers, nested protection in units or shares, caps in units or shares, per-SKU overrides,
 * location limits, unknown channels) and random batches / interleavings:
 * - a batch is decided exactly as if its requests came one at a time, highest tier first, then in
 *   arrival order;
 * - a lower tier never consumes protected units: after an accepted request of tier p, the SKU's
 *   availability is still ≥ the units protected for tiers above p;
 * - caps are never exceeded: after an accepted request, what the channel holds ≤ its cap;
 * - a channel limited to some locations never gets others; a refused request changes nothing;
 *   a `channel-limit` refusal only happens when the stock was physically there (or, for a
 *   backorder, the free inbound supply), and an `insufficient-stock` one only when it was not;
 * - a higher tier can always take what is protected for it, whatever lower tiers did before it,
 *   also when its request arrives last in a batch full of lower-tier requests.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AllocationRequest,
  type AllocationState,
  availableOf,
  channelAvailable,
  decideBatch,
  holdKey,
  type PositionState,
  type SupplyState,
} from '../src/domain/allocate.js';
import { ChannelLimit, InsufficientStock } from '../src/domain/errors.js';
import { hasCap, policyFor, tierOf } from '../src/rules/policy.js';
import { RulesDocument } from '../src/rules/schema.js';

const SKUS = ['A', 'B'] as const;
const LOCS = ['L1', 'L2', 'L3'] as const;
const CHANNELS = ['c0', 'c1', 'c2', 'c3', 'c4'] as const;
const MAX_TIER = 4;

const tier = fc.integer({ min: 1, max: MAX_TIER });
const protectAmount = fc.oneof(fc.integer({ min: 0, max: 25 }), fc.record({ share: fc.double({ min: 0, max: 0.4, noNaN: true }) }));
const protectMap = fc.dictionary(fc.constantFrom('1', '2', '3'), protectAmount, { maxKeys: 3 });
const caps = fc.record(
  { maxUnits: fc.integer({ min: 0, max: 40 }), maxShare: fc.double({ min: 0, max: 1, noNaN: true }) },
  { requiredKeys: [] },
);

const rulesArb = fc
  .record({
    defaultTier: tier,
    channels: fc.dictionary(
      fc.constantFrom(...CHANNELS),
      fc.record(
        {
          tier,
          maxUnits: fc.integer({ min: 0, max: 40 }),
          maxShare: fc.double({ min: 0, max: 1, noNaN: true }),
          locations: fc.subarray([...LOCS], { minLength: 1 }),
        },
        { requiredKeys: [] },
      ),
    ),
    protect: protectMap,
    skus: fc.dictionary(
      fc.constantFrom(...SKUS),
      fc.record({ protect: protectMap, channels: fc.dictionary(fc.constantFrom(...CHANNELS), caps) }, { requiredKeys: [] }),
    ),
    version: fc.integer({ min: 1, max: 1000 }),
  })
  // every generated document must be one the API would accept
  .map((r) => RulesDocument.parse(r));

const positionsArb = fc
  .tuple(
    ...SKUS.flatMap((sku) =>
      LOCS.map((location, rank) =>
        fc
          .record({ onHand: fc.integer({ min: 0, max: 40 }), reserved: fc.integer({ min: 0, max: 10 }), qualityHold: fc.integer({ min: 0, max: 3 }), safetyStock: fc.integer({ min: 0, max: 3 }) })
          .map((p): PositionState => ({ sku, location, rank, ...p, reserved: Math.min(p.reserved, p.onHand) })),
      ),
    ),
  )
  .map((ps) => ps as PositionState[]);

const suppliesArb = fc.array(
  fc.record({ sku: fc.constantFrom(...SKUS), location: fc.constantFrom(...LOCS), free: fc.integer({ min: 0, max: 20 }), day: fc.integer({ min: 1, max: 30 }) }),
  { maxLength: 3 },
).map((xs) => xs.map((s, i): SupplyState => ({ id: `s${i}`, sku: s.sku, location: s.location, rank: LOCS.indexOf(s.location), free: s.free, expectedAt: new Date(Date.UTC(2030, 0, s.day)) })));

const requestArb = (channels: readonly string[]) =>
  fc.record({
    channel: fc.constantFrom(...channels),
    lines: fc.array(
      fc.record({ sku: fc.constantFrom(...SKUS), qty: fc.integer({ min: 1, max: 15 }), location: fc.option(fc.constantFrom(...LOCS), { nil: undefined, freq: 4 }) }),
      { minLength: 1, maxLength: 2 },
    ),
    allowBackorder: fc.boolean(),
  }) as fc.Arbitrary<AllocationRequest>;

const holdsArb = fc.array(fc.tuple(fc.constantFrom(...SKUS), fc.constantFrom(...CHANNELS, 'unknown'), fc.integer({ min: 0, max: 15 })), { maxLength: 4 }).map((xs) => new Map(xs.map(([s, c, n]) => [holdKey(s, c), n])));

const totals = (positions: readonly PositionState[], sku: string) => ({
  onHand: positions.filter((p) => p.sku === sku).reduce((n, p) => n + p.onHand, 0),
  available: positions.filter((p) => p.sku === sku).reduce((n, p) => n + availableOf(p), 0),
});

type State = Required<AllocationState>;

/** The oracle's own sum (not the decision's helper): free inbound supply of a SKU at the locations the channel may use. */
const freeSupply = (state: State, rules: RulesDocument, sku: string, channel: string) => {
  const allowed = policyFor(rules, sku, channel).locations;
  return state.supplies.filter((x) => x.sku === sku && (!allowed || allowed.has(x.location))).reduce((n, x) => n + Math.max(0, x.free), 0);
};
const clone = (s: State): State => ({ positions: s.positions.map((p) => ({ ...p })), supplies: s.supplies.map((x) => ({ ...x })), holds: new Map(s.holds) });

/** Decide one request alone and check every per-request invariant; returns the next state. */
function stepAndCheck(state: State, rules: RulesDocument, req: AllocationRequest): { next: State; outcome: ReturnType<typeof decideBatch>['outcomes'][number] } {
  const r = decideBatch(state, rules, [req]);
  const outcome = r.outcomes[0]!;
  const next: State = { positions: r.positions, supplies: r.supplies, holds: r.holds };
  const p = tierOf(rules, req.channel);
  if (!outcome.ok) {
    // a refused request changes nothing
    expect(next.positions).toEqual(state.positions);
    expect(next.supplies).toEqual(state.supplies);
    expect([...next.holds]).toEqual([...state.holds]);
    if (outcome.error instanceof ChannelLimit) {
      // held back by the rules: the stock was physically there in the locations it may use
      // (or, for a backorder, with the free inbound supply there)
      for (const l of outcome.error.lines) {
        expect(['protected', 'channel-cap']).toContain(l.reason);
        const held = state.holds.get(holdKey(l.sku, req.channel)) ?? 0;
        const supply = req.allowBackorder ? freeSupply(state, rules, l.sku, req.channel) : 0;
        expect(channelAvailable(state.positions, rules, l.sku, req.channel, held).physical + supply).toBeGreaterThanOrEqual(l.requested);
      }
    }
    if (outcome.error instanceof InsufficientStock) {
      // blamed on stock only when the stock (and, for a backorder, the supply) really was short of
      // the request's demand for that SKU — never when protection or a cap was what stopped it
      for (const l of outcome.error.lines.filter((x) => x.reason === 'insufficient-stock')) {
        const held = state.holds.get(holdKey(l.sku, req.channel)) ?? 0;
        const supply = req.allowBackorder ? freeSupply(state, rules, l.sku, req.channel) : 0;
        const demand = req.lines.filter((x) => x.sku === l.sku).reduce((n, x) => n + x.qty, 0);
        expect(channelAvailable(state.positions, rules, l.sku, req.channel, held).physical + supply).toBeLessThan(demand);
      }
    }
    return { next, outcome };
  }
  for (const sku of new Set(req.lines.map((l) => l.sku))) {
    const policy = policyFor(rules, sku, req.channel);
    const { onHand } = totals(state.positions, sku);
    const before = totals(state.positions, sku).available;
    const after = totals(next.positions, sku).available;
    // a lower tier never consumes protected units
    if (after < before) expect(after).toBeGreaterThanOrEqual(policy.protectedUnits(onHand));
    // caps are never exceeded
    const took = (next.holds.get(holdKey(sku, req.channel)) ?? 0) - (state.holds.get(holdKey(sku, req.channel)) ?? 0);
    const wanted = req.lines.filter((l) => l.sku === sku).reduce((n, l) => n + l.qty, 0);
    expect(took).toBe(wanted);
    if (hasCap(rules, sku, req.channel)) expect(next.holds.get(holdKey(sku, req.channel))).toBeLessThanOrEqual(policy.cap(onHand));
  }
  // locations: only allowed ones (and the pinned one), never below zero
  for (const line of outcome.lines) {
    const policy = policyFor(rules, line.sku, req.channel);
    for (const a of line.allocations) {
      if (policy.locations) expect(policy.locations.has(a.location)).toBe(true);
      if (line.location) expect(a.location).toBe(line.location);
    }
  }
  next.positions.forEach((q, i) => {
    const was = state.positions[i]!;
    expect(q.reserved - was.reserved).toBeLessThanOrEqual(availableOf(was));
  });
  next.supplies.forEach((s) => expect(s.free).toBeGreaterThanOrEqual(0));
  expect(p).toBeGreaterThanOrEqual(1);
  return { next, outcome };
}

describe('channel rules (property-based, pure decision)', () => {
  it('a batch is decided as its requests one at a time in tier-then-arrival order; protection, caps and locations hold at every step', () => {
    fc.assert(
      fc.property(
        rulesArb,
        positionsArb,
        suppliesArb,
        holdsArb,
        fc.array(fc.array(requestArb([...CHANNELS, 'unknown']), { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }),
        (rules, positions, supplies, holds, batches) => {
          let batchState: State = { positions, supplies, holds };
          let seqState = clone(batchState);
          for (const batch of batches) {
            const decided = decideBatch(batchState, rules, batch);
            const order = batch.map((r, i) => ({ i, t: tierOf(rules, r.channel) })).sort((a, b) => a.t - b.t || a.i - b.i);
            const seqOutcomes = new Array(batch.length);
            for (const { i } of order) {
              const { next, outcome } = stepAndCheck(seqState, rules, batch[i]!);
              seqState = next;
              seqOutcomes[i] = outcome;
            }
            expect(decided.outcomes.map((o) => (o.ok ? o.lines : o.error.code))).toEqual(seqOutcomes.map((o) => (o.ok ? o.lines : o.error.code)));
            expect(decided.positions).toEqual(seqState.positions);
            expect([...decided.holds].sort()).toEqual([...seqState.holds].sort());
            batchState = { positions: decided.positions, supplies: decided.supplies, holds: decided.holds };
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('a higher tier can always take what is protected for it, whatever lower tiers did first (even arriving last in a batch)', () => {
    fc.assert(
      fc.property(
        rulesArb,
        fc.integer({ min: 1, max: MAX_TIER - 1 }),
        positionsArb,
        holdsArb,
        fc.constantFrom(...SKUS),
        fc.array(fc.array(requestArb(['lo1', 'lo2', 'lo3']), { minLength: 1, maxLength: 8 }), { maxLength: 4 }),
        fc.array(requestArb(['lo1', 'lo2', 'lo3']), { maxLength: 8 }),
        (base, q, positions, holds, sku, earlier, sameBatch) => {
          // vip at tier q, no cap, every location; lo1..lo3 at random tiers below q (larger numbers)
          const rules: RulesDocument = {
            ...base,
            channels: { ...base.channels, vip: { tier: q }, lo1: { tier: q + 1 }, lo2: { tier: Math.min(MAX_TIER, q + 2) }, lo3: { ...base.channels.c0, tier: MAX_TIER } },
          };
          const { onHand, available: a0 } = totals(positions, sku);
          // units the lower tiers must leave (protected for tiers ≤ q), and what vip must itself leave (tiers < q)
          const forTiersUpToQ = policyFor(rules, sku, 'lo1').protectedUnits(onHand);
          const aboveVip = policyFor(rules, sku, 'vip').protectedUnits(onHand);
          let state: State = { positions, supplies: [], holds };
          for (const batch of earlier) {
            const r = decideBatch(state, rules, batch);
            state = { positions: r.positions, supplies: r.supplies, holds: r.holds };
          }
          // whatever the lower tiers did, they left at least min(a0, protected for tiers ≤ q)
          expect(totals(state.positions, sku).available).toBeGreaterThanOrEqual(Math.min(a0, forTiersUpToQ));
          const want = Math.min(a0, forTiersUpToQ) - aboveVip;
          fc.pre(want > 0);
          const vip: AllocationRequest = { channel: 'vip', lines: [{ sku, qty: want }] };
          const r = decideBatch(state, rules, [...sameBatch, vip]);
          const outcome = r.outcomes[sameBatch.length]!;
          expect(outcome.ok).toBe(true);
        },
      ),
      { numRuns: 400 },
    );
  });
});
