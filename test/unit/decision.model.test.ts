/**
 * The allocation decision against an independent model (fast-check). The model below is plain
 * arithmetic over the generated numbers — it never calls policyFor, channelAvailable, availableOf
 * or decideBatch — and states the decision as DESIGN.md and docs/RULES.md do:
 *   available(position) = max(0, onHand − reserved − qualityHold − safetyStock)
 *   a tier-p channel leaves Σ protect[t] (t < p; units, or floor(share × total onHand)) available;
 *   its cap is min(maxUnits, floor(maxShare × total onHand)) minus what it holds;
 *   it may take min(available at its locations, total available − protected, cap room) on hand;
 *   one covering location by rank (then name), else the fewest splits (largest first, then rank,
 *   then name); a backorder then takes inbound supply by expected date, rank, id, within the cap;
 *   a request that cannot be covered in full changes nothing and says why (insufficient-stock /
 *   protected / channel-cap / location-not-allowed) and how much the channel could take now;
 *   a batch is served highest tier first, then in arrival order.
 * Every outcome (accepted allocations to the unit, or the refusal's class, reason and figure) and
 * the state after the batch must equal the model's.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { type AllocationRequest, decideBatch, holdKey, type PositionState, type SupplyState } from '../../src/domain/allocate.js';
import { ChannelLimit, InsufficientStock } from '../../src/domain/errors.js';
import type { RulesDocument } from '../../src/contract/rules.js';

const LOCS = ['L1', 'L2', 'L3'] as const;
const CHANNELS = ['c1', 'c2', 'c3'] as const;
type Loc = (typeof LOCS)[number];

interface ModelChannel {
  tier: number;
  maxUnits?: number;
  maxShare?: number;
  locations?: Loc[];
}
interface Model {
  defaultTier: number;
  channels: Partial<Record<string, ModelChannel>>;
  /** protect[t]: units, or a share of the total onHand */
  protect: Partial<Record<number, number | { share: number }>>;
}
interface Req {
  channel: string;
  qty: number;
  location?: Loc;
  allowBackorder: boolean;
}
interface Alloc {
  location: string;
  qty: number;
  supplyId?: string;
  promisedAt?: Date;
}
type Expected = { ok: true; allocations: Alloc[]; backordered: boolean } | { ok: false; physical: boolean; reason: string; available: number };

// ---- the model (plain arithmetic) ----
function modelDecide(m: Model, positions: PositionState[], supplies: SupplyState[], holds: Map<string, number>, r: Req): Expected {
  const ch = m.channels[r.channel];
  const tier = ch?.tier ?? m.defaultTier;
  const avail = (p: PositionState) => Math.max(0, p.onHand - p.reserved - p.qualityHold - p.safetyStock);
  const mayUse = (loc: string) => !ch?.locations || (ch.locations as string[]).includes(loc);
  let totalOnHand = 0;
  let totalAvail = 0;
  let physical = 0;
  for (const p of positions) {
    totalOnHand += p.onHand;
    totalAvail += avail(p);
    if (mayUse(p.location)) physical += avail(p);
  }
  let prot = 0;
  for (let t = 1; t < tier; t++) {
    const a = m.protect[t];
    if (a !== undefined) prot += typeof a === 'number' ? a : Math.floor(a.share * totalOnHand);
  }
  let cap = Infinity;
  if (ch?.maxUnits !== undefined) cap = Math.min(cap, ch.maxUnits);
  if (ch?.maxShare !== undefined) cap = Math.min(cap, Math.floor(ch.maxShare * totalOnHand));
  const capRoom = Math.max(0, cap - (holds.get(`A|${r.channel}`) ?? 0));
  const forChannel = Math.max(0, Math.min(physical, totalAvail - prot, capRoom));

  if (r.location && !mayUse(r.location)) return { ok: false, physical: true, reason: 'location-not-allowed', available: 0 };
  const here = (loc: string) => mayUse(loc) && (!r.location || r.location === loc);
  const allocations: Alloc[] = [];
  let rem = r.qty;
  const fromStock = Math.min(r.qty, forChannel);
  const cands = positions.filter((p) => here(p.location) && avail(p) > 0).map((p) => ({ loc: p.location, rank: p.rank, a: avail(p) }));
  const byName = (x: { loc: string }, y: { loc: string }) => (x.loc < y.loc ? -1 : x.loc > y.loc ? 1 : 0);
  if (fromStock > 0) {
    const covering = fromStock === r.qty ? cands.filter((c) => c.a >= r.qty).sort((x, y) => x.rank - y.rank || byName(x, y))[0] : undefined;
    const order = covering ? [covering] : [...cands].sort((x, y) => y.a - x.a || x.rank - y.rank || byName(x, y));
    let left = fromStock;
    for (const c of order) {
      if (left === 0) break;
      const q = Math.min(c.a, left);
      allocations.push({ location: c.loc, qty: q });
      left -= q;
      rem -= q;
    }
  }
  const tookOnHand = r.qty - rem;
  if (rem > 0 && r.allowBackorder) {
    let room = capRoom - tookOnHand;
    const sorted = [...supplies].sort((x, y) => x.expectedAt.getTime() - y.expectedAt.getTime() || x.rank - y.rank || (x.id < y.id ? -1 : 1));
    for (const s of sorted) {
      if (rem === 0 || room <= 0) break;
      if (!here(s.location) || s.free <= 0) continue;
      const q = Math.min(s.free, rem, room);
      allocations.push({ location: s.location, qty: q, supplyId: s.id, promisedAt: s.expectedAt });
      rem -= q;
      room -= q;
    }
  }
  if (rem > 0) {
    // a pinned line can only reach its own location (stock and supply there)
    const reach = r.location ? positions.filter((p) => p.location === r.location).reduce((n, p) => n + avail(p), 0) : physical;
    const freeSupply = r.allowBackorder ? supplies.filter((s) => mayUse(s.location) && (!r.location || s.location === r.location)).reduce((n, s) => n + Math.max(0, s.free), 0) : 0;
    const reason = reach + freeSupply >= r.qty ? (capRoom < r.qty ? 'channel-cap' : 'protected') : 'insufficient-stock';
    return { ok: false, physical: reason === 'insufficient-stock', reason, available: Math.min(forChannel, reach) };
  }
  return { ok: true, allocations, backordered: allocations.some((a) => a.supplyId !== undefined) };
}

function modelApply(positions: PositionState[], supplies: SupplyState[], holds: Map<string, number>, r: Req, allocations: Alloc[]) {
  for (const a of allocations) {
    if (a.supplyId) supplies.find((s) => s.id === a.supplyId)!.free -= a.qty;
    else positions.find((p) => p.location === a.location)!.reserved += a.qty;
  }
  const k = `A|${r.channel}`;
  holds.set(k, (holds.get(k) ?? 0) + r.qty);
}

// ---- generators ----
const modelArb: fc.Arbitrary<Model> = fc.record({
  defaultTier: fc.integer({ min: 1, max: 4 }),
  channels: fc.dictionary(
    fc.constantFrom(...CHANNELS),
    fc.record(
      {
        tier: fc.integer({ min: 1, max: 4 }),
        maxUnits: fc.integer({ min: 0, max: 30 }),
        maxShare: fc.integer({ min: 0, max: 10 }).map((n) => n / 10),
        locations: fc.subarray([...LOCS], { minLength: 1 }),
      },
      { requiredKeys: ['tier'] },
    ),
  ),
  protect: fc.dictionary(
    fc.constantFrom('1', '2', '3'),
    fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 5 }).map((n) => ({ share: n / 10 }))),
  ) as fc.Arbitrary<Model['protect']>,
});

const positionsArb = fc
  .tuple(
    ...LOCS.map((location) =>
      fc.record({ rank: fc.integer({ min: 1, max: 2 }), onHand: fc.integer({ min: 0, max: 30 }), reserved: fc.integer({ min: 0, max: 8 }), qualityHold: fc.integer({ min: 0, max: 4 }), safetyStock: fc.integer({ min: 0, max: 4 }) }).map(
        (p): PositionState => ({ sku: 'A', location, ...p, reserved: Math.min(p.reserved, p.onHand) }),
      ),
    ),
  )
  // in any order: the decision must not depend on the order rows arrive in (ties broken by name)
  .chain((ps) => fc.shuffledSubarray(ps, { minLength: ps.length, maxLength: ps.length }));

const suppliesArb = fc
  .array(fc.record({ location: fc.constantFrom(...LOCS), free: fc.integer({ min: 0, max: 12 }), day: fc.integer({ min: 1, max: 4 }), rank: fc.integer({ min: 1, max: 3 }) }), { maxLength: 4 })
  .map((xs) => xs.map((s, i): SupplyState => ({ id: `s${(i * 7) % 5}${i}`, sku: 'A', location: s.location, rank: s.rank, free: s.free, expectedAt: new Date(Date.UTC(2030, 0, s.day)) })))
  .chain((xs) => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length }));

const reqArb: fc.Arbitrary<Req> = fc.record(
  { channel: fc.constantFrom(...CHANNELS), qty: fc.integer({ min: 1, max: 25 }), location: fc.constantFrom(...LOCS), allowBackorder: fc.boolean() },
  { requiredKeys: ['channel', 'qty', 'allowBackorder'] },
);

const holdsArb = fc.array(fc.tuple(fc.constantFrom(...CHANNELS), fc.integer({ min: 0, max: 20 })), { maxLength: 3 });

function toRules(m: Model, version: number): RulesDocument {
  const channels: RulesDocument['channels'] = {};
  for (const [name, c] of Object.entries(m.channels)) channels[name] = { ...c! };
  const protect: RulesDocument['protect'] = {};
  for (const [t, a] of Object.entries(m.protect)) protect[t] = a!;
  return { version, defaultTier: m.defaultTier, channels, protect, skus: {} };
}

it('decideBatch agrees with the model: every outcome of a random batch, to the unit, and the state after it', () => {
  fc.assert(
    fc.property(modelArb, positionsArb, suppliesArb, holdsArb, fc.array(reqArb, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 99 }), (m, positions, supplies, holdList, reqs, version) => {
      const rules = toRules(m, version);
      const holds = new Map(holdList.map(([c, n]) => [holdKey('A', c), n]));
      const requests: AllocationRequest[] = reqs.map((r) => ({ channel: r.channel, allowBackorder: r.allowBackorder, lines: [{ sku: 'A', qty: r.qty, ...(r.location ? { location: r.location } : {}) }] }));
      const frozen = JSON.stringify({ positions, supplies });
      const got = decideBatch({ positions, supplies, holds }, rules, requests);
      // the inputs are not mutated
      expect(JSON.stringify({ positions, supplies })).toBe(frozen);

      // the model, one request at a time: highest tier first, then arrival order
      const mp = positions.map((p) => ({ ...p }));
      const ms = supplies.map((s) => ({ ...s }));
      const mh = new Map(holdList.map(([c, n]) => [`A|${c}`, n]));
      const tierOf = (c: string) => m.channels[c]?.tier ?? m.defaultTier;
      const order = reqs.map((r, i) => i).sort((a, b) => tierOf(reqs[a]!.channel) - tierOf(reqs[b]!.channel) || a - b);
      for (const i of order) {
        const r = reqs[i]!;
        const want = modelDecide(m, mp, ms, mh, r);
        const o = got.outcomes[i]!;
        if (want.ok) {
          expect(o.ok, `request ${i} accepted`).toBe(true);
          if (!o.ok) return;
          expect(o.lines).toEqual([{ lineNo: 1, sku: 'A', qty: r.qty, location: r.location, status: want.backordered ? 'backordered' : 'allocated', allocations: want.allocations }]);
          modelApply(mp, ms, mh, r, want.allocations);
        } else {
          expect(o.ok, `request ${i} refused`).toBe(false);
          if (o.ok) return;
          expect(o.error).toBeInstanceOf(want.physical ? InsufficientStock : ChannelLimit);
          const line = { sku: 'A', requested: r.qty, available: want.available, reason: want.reason, ...(r.location ? { location: r.location } : {}) };
          expect((o.error as InsufficientStock).lines).toEqual([line]);
          if (!want.physical) expect(o.error.facts).toEqual({ lines: [line], rulesVersion: version });
        }
      }
      expect(got.positions).toEqual(mp);
      expect(got.supplies).toEqual(ms);
      for (const c of CHANNELS) expect(got.holds.get(holdKey('A', c)), `holds of ${c}`).toBe(mh.get(`A|${c}`));
    }),
    { numRuns: 400 },
  );
});
