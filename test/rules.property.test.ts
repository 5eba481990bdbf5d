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
 *   backorder, the free inbound supply; for a pinned line, at its location), and an
 *   `insufficient-stock` one only when it was not;
 * - a higher tier can always take what is protected for it, whatever lower tiers did before it,
 *   also when its request arrives last in a batch full of lower-tier requests.
 * The oracle is a small model of its own (`model` below: plain arithmetic over positions, tiers,
 * protection floors and caps, written from DESIGN.md), never the code under test (decideBatch's
 * helpers channelAvailable, policyFor, tierOf, hasCap, availableOf): for a request without pinned
 * lines it predicts exactly whether it is accepted and, when not, which code and reason it gets;
 * for every accepted request it checks the exact units moved at each position, supply and hold.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AllocationRequest, type AllocationState, decideBatch, holdKey, type PositionState, type SupplyState } from '../src/domain/allocate.js';
import { ChannelLimit, InsufficientStock } from '../src/domain/errors.js';
import { RulesDocument } from '../src/contract/rules.js';

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

type State = Required<AllocationState>;

/**
 * The model: DESIGN.md's rules as plain arithmetic. A position's sellable units are
 * onHand − reserved − qualityHold − safetyStock, never below 0; a tier-p channel must leave the
 * SKU's sellable total ≥ Σ protect[t] for t < p (per-SKU entries override tier by tier; a share is
 * of the SKU's total onHand, rounded down); it may hold at most min(maxUnits, ⌊maxShare × onHand⌋)
 * (per-SKU caps override cap by cap); a channel with `locations` ships only from those.
 */
const model = {
  tier: (rules: RulesDocument, ch: string) => rules.channels[ch]?.tier ?? rules.defaultTier,
  sellable: (p: PositionState) => Math.max(0, p.onHand - p.reserved - p.qualityHold - p.safetyStock),
  allowed: (rules: RulesDocument, ch: string, loc: string) => rules.channels[ch]?.locations?.includes(loc) ?? true,
  onHand: (ps: readonly PositionState[], sku: string) => ps.filter((p) => p.sku === sku).reduce((n, p) => n + p.onHand, 0),
  total: (ps: readonly PositionState[], sku: string) => ps.filter((p) => p.sku === sku).reduce((n, p) => n + model.sellable(p), 0),
  physical: (ps: readonly PositionState[], rules: RulesDocument, sku: string, ch: string) =>
    ps.filter((p) => p.sku === sku && model.allowed(rules, ch, p.location)).reduce((n, p) => n + model.sellable(p), 0),
  supply: (xs: readonly SupplyState[], rules: RulesDocument, sku: string, ch: string) =>
    xs.filter((x) => x.sku === sku && model.allowed(rules, ch, x.location)).reduce((n, x) => n + Math.max(0, x.free), 0),
  floor(rules: RulesDocument, sku: string, tier: number, onHand: number) {
    const protect = { ...rules.protect, ...rules.skus[sku]?.protect };
    let sum = 0;
    for (const [t, a] of Object.entries(protect)) if (Number(t) < tier) sum += typeof a === 'number' ? a : Math.floor(a.share * onHand);
    return sum;
  },
  cap(rules: RulesDocument, sku: string, ch: string, onHand: number) {
    const own = rules.skus[sku]?.channels?.[ch];
    const units = own?.maxUnits ?? rules.channels[ch]?.maxUnits;
    const share = own?.maxShare ?? rules.channels[ch]?.maxShare;
    return Math.min(units ?? Infinity, share === undefined ? Infinity : Math.floor(share * onHand));
  },
  /** for one SKU of a request: what the channel may take on hand, in all, and could reach physically */
  limits(state: State, rules: RulesDocument, sku: string, ch: string, backorder: boolean) {
    const onHand = model.onHand(state.positions, sku);
    const capRoom = Math.max(0, model.cap(rules, sku, ch, onHand) - (state.holds.get(holdKey(sku, ch)) ?? 0));
    const physical = model.physical(state.positions, rules, sku, ch);
    const fromStock = Math.max(0, Math.min(physical, model.total(state.positions, sku) - model.floor(rules, sku, model.tier(rules, ch), onHand), capRoom));
    const supply = backorder ? model.supply(state.supplies, rules, sku, ch) : 0;
    return { capRoom, fromStock, most: Math.min(capRoom, fromStock + supply), reach: physical + supply };
  },
};

const demandOf = (req: AllocationRequest) => {
  const d = new Map<string, number>();
  for (const l of req.lines) d.set(l.sku, (d.get(l.sku) ?? 0) + l.qty);
  return d;
};
const clone = (s: State): State => ({ positions: s.positions.map((p) => ({ ...p })), supplies: s.supplies.map((x) => ({ ...x })), holds: new Map(s.holds) });

/** Decide one request alone and check it against the model; returns the next state. */
function stepAndCheck(state: State, rules: RulesDocument, req: AllocationRequest): { next: State; outcome: ReturnType<typeof decideBatch>['outcomes'][number] } {
  const r = decideBatch(state, rules, [req]);
  const outcome = r.outcomes[0]!;
  const next: State = { positions: r.positions, supplies: r.supplies, holds: r.holds };
  const demand = demandOf(req);
  const limits = new Map([...demand.keys()].map((sku) => [sku, model.limits(state, rules, sku, req.channel, !!req.allowBackorder)]));

  // without pinned lines the model decides exactly: every SKU's demand within what the channel may take
  if (req.lines.every((l) => !l.location)) {
    const failing = [...demand].filter(([sku, d]) => d > limits.get(sku)!.most);
    expect(outcome.ok).toBe(failing.length === 0);
    if (!outcome.ok) {
      const physical = failing.some(([sku, d]) => limits.get(sku)!.reach < d);
      expect(outcome.error.code).toBe(physical ? 'insufficient-stock' : 'channel-limit');
      for (const l of (outcome.error as InsufficientStock).lines) {
        const d = demand.get(l.sku)!;
        const lim = limits.get(l.sku)!;
        expect(l.reason).toBe(lim.reach < d ? 'insufficient-stock' : lim.capRoom < d ? 'channel-cap' : 'protected');
      }
    }
  }

  if (!outcome.ok) {
    // a refused request changes nothing
    expect(next.positions).toEqual(state.positions);
    expect(next.supplies).toEqual(state.supplies);
    expect([...next.holds]).toEqual([...state.holds]);
    // held back by the rules only when the stock (and, for a backorder, the free inbound supply)
    // was physically there in the locations it may use — for a pinned line, at its own location,
    // against what the request pins there; blamed on stock only when it was not
    const reachOf = (l: { sku: string; location?: string | undefined }) => {
      if (!l.location) return { reach: limits.get(l.sku)!.reach, demand: demand.get(l.sku)! };
      const at = l.location;
      const sellable = state.positions.filter((p) => p.sku === l.sku && p.location === at).reduce((n, p) => n + model.sellable(p), 0);
      const inbound = req.allowBackorder && model.allowed(rules, req.channel, at) ? state.supplies.filter((x) => x.sku === l.sku && x.location === at).reduce((n, x) => n + Math.max(0, x.free), 0) : 0;
      return { reach: sellable + inbound, demand: req.lines.filter((x) => x.sku === l.sku && x.location === at).reduce((n, x) => n + x.qty, 0) };
    };
    if (outcome.error instanceof ChannelLimit) {
      for (const l of outcome.error.lines) {
        expect(['protected', 'channel-cap']).toContain(l.reason);
        const { reach, demand: d } = reachOf(l);
        expect(reach).toBeGreaterThanOrEqual(d);
      }
    }
    if (outcome.error instanceof InsufficientStock) {
      for (const l of outcome.error.lines.filter((x) => x.reason === 'insufficient-stock')) {
        const { reach, demand: d } = reachOf(l);
        expect(reach).toBeLessThan(d);
      }
    }
    return { next, outcome };
  }

  // accepted: each line allocated in full, only where the channel (and the pin) allows, against
  // supply only for a backorder
  const atPosition = new Map<string, number>();
  const atSupply = new Map<string, number>();
  const onHandTaken = new Map<string, number>();
  for (const line of outcome.lines) {
    expect(line.allocations.reduce((n, a) => n + a.qty, 0)).toBe(line.qty);
    for (const a of line.allocations) {
      expect(a.qty).toBeGreaterThan(0);
      expect(model.allowed(rules, req.channel, a.location)).toBe(true);
      if (line.location) expect(a.location).toBe(line.location);
      if (a.supplyId) {
        expect(req.allowBackorder).toBe(true);
        atSupply.set(a.supplyId, (atSupply.get(a.supplyId) ?? 0) + a.qty);
      } else {
        atPosition.set(holdKey(line.sku, a.location), (atPosition.get(holdKey(line.sku, a.location)) ?? 0) + a.qty);
        onHandTaken.set(line.sku, (onHandTaken.get(line.sku) ?? 0) + a.qty);
      }
    }
  }
  expect(outcome.lines.map((l) => ({ lineNo: l.lineNo, sku: l.sku, qty: l.qty }))).toEqual(req.lines.map((l, i) => ({ lineNo: i + 1, sku: l.sku, qty: l.qty })));
  // exact bookkeeping: reserved grows by what was taken there, never past what was sellable;
  // supply `free` falls by what was promised from it; the channel's hold grows by the demand
  state.positions.forEach((was, i) => {
    const now = next.positions[i]!;
    const took = atPosition.get(holdKey(was.sku, was.location)) ?? 0;
    expect(now).toEqual({ ...was, reserved: was.reserved + took });
    expect(took).toBeLessThanOrEqual(model.sellable(was));
  });
  state.supplies.forEach((was, i) => expect(next.supplies[i]).toEqual({ ...was, free: was.free - (atSupply.get(was.id) ?? 0) }));
  const holdsAfter = new Map(state.holds);
  for (const [sku, d] of demand) holdsAfter.set(holdKey(sku, req.channel), (holdsAfter.get(holdKey(sku, req.channel)) ?? 0) + d);
  expect(new Map([...next.holds].filter(([, n]) => n !== 0))).toEqual(new Map([...holdsAfter].filter(([, n]) => n !== 0)));
  for (const [sku, d] of demand) {
    const lim = limits.get(sku)!;
    // the protection floor: on-hand units taken never exceed what the floor leaves; the cap holds
    expect(onHandTaken.get(sku) ?? 0).toBeLessThanOrEqual(lim.fromStock);
    expect(d).toBeLessThanOrEqual(lim.capRoom);
    const onHand = model.onHand(state.positions, sku);
    if (onHandTaken.get(sku)) expect(model.total(next.positions, sku)).toBeGreaterThanOrEqual(model.floor(rules, sku, model.tier(rules, req.channel), onHand));
    expect(next.holds.get(holdKey(sku, req.channel))!).toBeLessThanOrEqual(model.cap(rules, sku, req.channel, onHand));
  }
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
            const order = batch.map((r, i) => ({ i, t: model.tier(rules, r.channel) })).sort((a, b) => a.t - b.t || a.i - b.i);
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
          const onHand = model.onHand(positions, sku);
          const a0 = model.total(positions, sku);
          // units the lower tiers must leave (protected for tiers ≤ q), and what vip must itself leave (tiers < q)
          const forTiersUpToQ = model.floor(rules, sku, q + 1, onHand);
          const aboveVip = model.floor(rules, sku, q, onHand);
          let state: State = { positions, supplies: [], holds };
          for (const batch of earlier) {
            const r = decideBatch(state, rules, batch);
            state = { positions: r.positions, supplies: r.supplies, holds: r.holds };
          }
          // whatever the lower tiers did, they left at least min(a0, protected for tiers ≤ q)
          expect(model.total(state.positions, sku)).toBeGreaterThanOrEqual(Math.min(a0, forTiersUpToQ));
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
