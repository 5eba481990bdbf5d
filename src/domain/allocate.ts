/**
 * The allocation decision, as a pure function: given the locked positions (and open supply, and
 * what each channel already holds), the rules in force and a batch of reservation requests, return
 * one outcome per request. No I/O: `services/reservations/reserve.ts` loads and locks the inputs, calls this,
 * and applies the result in the same transaction, so the decision is made on exactly the rows it
 * holds locks on.
 *
 * Guarantees (property-tested in test/allocate.property.test.ts):
 * - no position ever goes below available 0 (onHand − reserved − qualityHold − safetyStock);
 * - a request is all or nothing: every line is allocated in full (on hand, or against inbound
 *   supply when allowBackorder) or the request is refused and the state is untouched;
 * - the same SKU on two lines is summed;
 * - a tier-p channel leaves Σ protect[t] (t < p) units available; a channel never holds more than
 *   its cap; a channel limited to some locations never gets others;
 * - within a batch, higher tiers are served first, then arrival order;
 * - no backorder is promised before `now` (overdue supply is promised from now).
 */
import { ChannelLimit, InsufficientStock, type DomainError, type ShortLine } from './errors.js';
import { policyFor, tierOf } from '../rules/policy.js';
import type { RulesDocument } from '../contract/rules.js';

export interface PositionState {
  sku: string;
  location: string;
  rank: number;
  onHand: number;
  reserved: number;
  qualityHold: number;
  safetyStock: number;
}

export interface SupplyState {
  id: string;
  sku: string;
  location: string;
  rank: number;
  /** qty − received − already allocated */
  free: number;
  expectedAt: Date;
}

export interface LineRequest {
  sku: string;
  qty: number;
  /** pin the line to one location */
  location?: string | undefined;
  /** where the line came from (a kit component, a pack unit): recorded, not used to decide */
  kit?: { sku: string; perKit: number } | undefined;
  unit?: { name: string; factor: number } | undefined;
  /** index of the caller's line this came from (a kit line becomes several): refusals name it */
  line?: number | undefined;
}

export interface AllocationRequest {
  channel: string;
  lines: LineRequest[];
  allowBackorder?: boolean | undefined;
}

export interface PlannedAllocation {
  location: string;
  qty: number;
  supplyId?: string;
  promisedAt?: Date;
}

export interface PlannedLine {
  lineNo: number;
  sku: string;
  qty: number;
  location?: string | undefined;
  status: 'allocated' | 'backordered';
  allocations: PlannedAllocation[];
}

export type Outcome = { ok: true; lines: PlannedLine[] } | { ok: false; error: DomainError };

export interface AllocationState {
  positions: PositionState[];
  supplies?: SupplyState[];
  /** units each channel holds reserved per SKU, keyed by holdKey(sku, channel) */
  holds?: Map<string, number>;
}

/** The date a backorder on this supply is promised: its expected date, or `now` when that is past. */
export function promiseDate(s: Pick<SupplyState, 'expectedAt'>, now: Date | undefined): Date {
  return now && s.expectedAt.getTime() < now.getTime() ? now : s.expectedAt;
}

export const holdKey = (sku: string, channel: string) => `${sku}\u0000${channel}`;

/** Units of a position that may be promised: never below zero. */
export function availableOf(p: Pick<PositionState, 'onHand' | 'reserved' | 'qualityHold' | 'safetyStock'>): number {
  return Math.max(0, p.onHand - p.reserved - p.qualityHold - p.safetyStock);
}

/** Order in which locations are tried for a line that no single location covers: fewest splits, then rank. */
function bySplitPreference(a: { avail: number; rank: number; location: string }, b: { avail: number; rank: number; location: string }) {
  return b.avail - a.avail || a.rank - b.rank || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0);
}

function byRank(a: { rank: number; location: string }, b: { rank: number; location: string }) {
  return a.rank - b.rank || (a.location < b.location ? -1 : a.location > b.location ? 1 : 0);
}

/**
 * What one channel could take of one SKU now: the physical availability in the locations it may
 * use, bounded by the protection levels of higher tiers and by its cap.
 */
export function channelAvailable(
  positions: readonly PositionState[],
  rules: RulesDocument,
  sku: string,
  channel: string,
  held: number,
): { physical: number; forChannel: number; protectedUnits: number; capRoom: number } {
  const policy = policyFor(rules, sku, channel);
  let totalOnHand = 0;
  let totalAvail = 0;
  let physical = 0;
  for (const p of positions) {
    if (p.sku !== sku) continue;
    const a = availableOf(p);
    totalOnHand += p.onHand;
    totalAvail += a;
    if (!policy.locations || policy.locations.has(p.location)) physical += a;
  }
  const protectedUnits = policy.protectedUnits(totalOnHand);
  const capRoom = Math.max(0, policy.cap(totalOnHand) - held);
  const forChannel = Math.max(0, Math.min(physical, totalAvail - protectedUnits, capRoom));
  return { physical, forChannel, protectedUnits, capRoom };
}

/**
 * Decide a batch. Mutates nothing it is given; returns the outcomes (in request order) and the
 * positions, supplies and holds as they stand after every accepted request. `now` is the time of
 * the decision: inbound supply expected before it (overdue, not yet received) is promised at
 * `now`, never at its past date (absent: at the expected date as given).
 */
export function decideBatch(
  state: AllocationState,
  rules: RulesDocument,
  requests: readonly AllocationRequest[],
  now?: Date,
): { outcomes: Outcome[]; positions: PositionState[]; supplies: SupplyState[]; holds: Map<string, number> } {
  const positions = state.positions.map((p) => ({ ...p }));
  const supplies = (state.supplies ?? []).map((s) => ({ ...s }));
  const holds = new Map(state.holds ?? []);
  const bySku = new Map<string, PositionState[]>();
  for (const p of positions) {
    const list = bySku.get(p.sku);
    if (list) list.push(p);
    else bySku.set(p.sku, [p]);
  }
  const suppliesBySku = new Map<string, SupplyState[]>();
  for (const s of [...supplies].sort((a, b) => a.expectedAt.getTime() - b.expectedAt.getTime() || a.rank - b.rank || (a.id < b.id ? -1 : 1))) {
    const list = suppliesBySku.get(s.sku);
    if (list) list.push(s);
    else suppliesBySku.set(s.sku, [s]);
  }

  const order = requests.map((r, i) => ({ i, tier: tierOf(rules, r.channel) })).sort((a, b) => a.tier - b.tier || a.i - b.i);
  // Stryker disable next-line ArrayDeclaration: equivalent — every index is assigned below (docs/TESTING.md)
  const outcomes: Outcome[] = new Array(requests.length);
  for (const { i } of order) {
    outcomes[i] = decideOne(requests[i]!, rules, bySku, suppliesBySku, holds, now);
  }
  return { outcomes, positions, supplies, holds };
}

/** Free inbound supply at the locations a channel may use (all when unrestricted). */
export function backorderableSupply(supplies: readonly SupplyState[], locations: ReadonlySet<string> | undefined): number {
  let free = 0;
  for (const s of supplies) if (!locations || locations.has(s.location)) free += Math.max(0, s.free);
  return free;
}

function decideOne(
  req: AllocationRequest,
  rules: RulesDocument,
  bySku: Map<string, PositionState[]>,
  suppliesBySku: Map<string, SupplyState[]>,
  holds: Map<string, number>,
  now: Date | undefined,
): Outcome {
  // tentative takes, applied to the shared state only if every line succeeds
  const takePos = new Map<PositionState, number>();
  const takeSupply = new Map<SupplyState, number>();
  const takenBySku = new Map<string, number>();
  const short: ShortLine[] = [];
  const planned: PlannedLine[] = [];
  const availNow = (p: PositionState) => availableOf(p) - (takePos.get(p) ?? 0);

  // the same SKU on several lines is one demand: lines are served in turn from one budget
  const need = new Map<string, number>();
  for (const l of req.lines) need.set(l.sku, (need.get(l.sku) ?? 0) + l.qty);
  const budgets = new Map<string, { onHand: number; total: number; view: ReturnType<typeof channelAvailable> }>();
  for (const sku of need.keys()) {
    const held = holds.get(holdKey(sku, req.channel)) ?? 0;
    // Stryker disable next-line ArrayDeclaration: equivalent — channelAvailable skips rows of other SKUs (docs/TESTING.md)
    const view = channelAvailable(bySku.get(sku) ?? [], rules, sku, req.channel, held);
    budgets.set(sku, { onHand: Math.max(0, Math.min(view.physical, view.forChannel)), total: view.capRoom, view });
  }

  // pinned lines first: they have only one place to go
  const lineOrder = req.lines.map((l, idx) => ({ l, idx })).sort((a, b) => Number(!a.l.location) - Number(!b.l.location) || a.idx - b.idx);
  for (const { l, idx } of lineOrder) {
    const policy = policyFor(rules, l.sku, req.channel);
    const budget = budgets.get(l.sku)!;
    const allowed = (loc: string) => (!policy.locations || policy.locations.has(loc)) && (!l.location || l.location === loc);
    if (l.location && policy.locations && !policy.locations.has(l.location)) {
      short.push({ sku: l.sku, requested: l.qty, available: 0, reason: 'location-not-allowed', location: l.location, ...(l.line !== undefined ? { line: l.line } : {}) });
      continue;
    }
    const allocations: PlannedAllocation[] = [];
    let rem = l.qty;
    const onHandRoom = Math.min(budget.onHand - (takenBySku.get(l.sku) ?? 0), budget.total - (takenBySku.get(l.sku) ?? 0));
    // Stryker disable next-line ArrayDeclaration: equivalent — a non-position has no availability and is filtered out (docs/TESTING.md)
    const candidates = (bySku.get(l.sku) ?? []).filter((p) => allowed(p.location)).map((p) => ({ p, avail: availNow(p), rank: p.rank, location: p.location })).filter((c) => c.avail > 0);
    const wantOnHand = Math.min(rem, Math.max(0, onHandRoom));
    if (wantOnHand > 0) {
      const single = wantOnHand === rem ? [...candidates].sort(byRank).find((c) => c.avail >= rem) : undefined;
      const picks = single ? [single] : [...candidates].sort(bySplitPreference);
      let toTake = wantOnHand;
      for (const c of picks) {
        if (toTake === 0) break;
        const q = Math.min(c.avail, toTake);
        takePos.set(c.p, (takePos.get(c.p) ?? 0) + q);
        allocations.push({ location: c.location, qty: q });
        toTake -= q;
        rem -= q;
      }
      takenBySku.set(l.sku, (takenBySku.get(l.sku) ?? 0) + (wantOnHand - toTake));
    }
    if (rem > 0 && req.allowBackorder) {
      let room = budget.total - (takenBySku.get(l.sku) ?? 0);
      for (const s of suppliesBySku.get(l.sku) ?? []) {
        if (rem === 0 || room <= 0) break;
        if (!allowed(s.location)) continue;
        const free = s.free - (takeSupply.get(s) ?? 0);
        if (free <= 0) continue;
        const q = Math.min(free, rem, room);
        takeSupply.set(s, (takeSupply.get(s) ?? 0) + q);
        allocations.push({ location: s.location, qty: q, supplyId: s.id, promisedAt: promiseDate(s, now) });
        rem -= q;
        room -= q;
        takenBySku.set(l.sku, (takenBySku.get(l.sku) ?? 0) + q);
      }
    }
    if (rem > 0) {
      // held back by the rules only if the stock (or, for a backorder, the free inbound supply) at
      // the channel's locations was there; supply `free` changes only when a request is accepted.
      // A pinned line can only reach its own location: stock elsewhere does not make it "protected".
      const v = budget.view;
      const here = (loc: string) => !l.location || loc === l.location;
      const physical = l.location ? (bySku.get(l.sku) ?? []).filter((p) => p.location === l.location).reduce((n, p) => n + availableOf(p), 0) : v.physical;
      const inbound = req.allowBackorder ? backorderableSupply((suppliesBySku.get(l.sku) ?? []).filter((s) => here(s.location)), policy.locations) : 0;
      const demand = l.location ? req.lines.filter((x) => x.sku === l.sku && x.location === l.location).reduce((n, x) => n + x.qty, 0) : need.get(l.sku)!;
      const reason: ShortLine['reason'] = physical + inbound >= demand ? (v.capRoom < need.get(l.sku)! ? 'channel-cap' : 'protected') : 'insufficient-stock';
      short.push({ sku: l.sku, requested: l.qty, available: Math.min(budget.onHand, physical), reason, ...(l.location ? { location: l.location } : {}), ...(l.line !== undefined ? { line: l.line } : {}) });
      continue;
    }
    planned.push({
      lineNo: idx + 1,
      sku: l.sku,
      qty: l.qty,
      location: l.location,
      status: allocations.some((a) => a.supplyId) ? 'backordered' : 'allocated',
      allocations,
    });
  }

  if (short.length > 0) {
    const physical = short.some((s) => s.reason === 'insufficient-stock' || s.reason === 'location-not-allowed');
    return { ok: false, error: physical ? new InsufficientStock(short) : new ChannelLimit(short, rules.version) };
  }
  for (const [p, q] of takePos) p.reserved += q;
  for (const [s, q] of takeSupply) s.free -= q;
  for (const [sku, q] of takenBySku) holds.set(holdKey(sku, req.channel), (holds.get(holdKey(sku, req.channel)) ?? 0) + q);
  planned.sort((a, b) => a.lineNo - b.lineNo);
  return { ok: true, lines: planned };
}
