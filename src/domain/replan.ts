/**
 * Re-planning displaced allocations, as a pure function. When inbound supply slips, shrinks or is
 * cancelled, or a short pick removes stock, some allocations lose their source. Each displaced
 * quantity is decided again exactly as a new backorder-allowed reservation line of its channel
 * would be (`decideBatch`: on hand in the allowed locations first — one covering location by rank,
 * else the fewest splits — then inbound supply in expected-date order, under the channel's
 * protection levels and cap), taking as much as can be covered; the rest is short.
 *
 * The caller passes the state with the displaced units already given back (positions' reserved,
 * supply's free, channel holds) and the displaced items in the order they should be served
 * (promise order for supply changes; the reverse of the losing order for short picks).
 * With `state.now`, overdue supply is promised from now (never at a past date).
 */
import { type AllocationState, decideBatch, type PlannedAllocation, type PositionState, type SupplyState } from './allocate.js';
import type { RulesDocument } from '../contract/rules.js';

export interface Displaced {
  /** the caller's handle (e.g. the allocation id) */
  ref: string;
  channel: string;
  sku: string;
  qty: number;
  /** the line's pinned location, if any */
  location?: string | undefined;
}

export interface Replanned {
  ref: string;
  sku: string;
  qty: number;
  allocations: PlannedAllocation[];
  shortQty: number;
}

export interface ReplanResult {
  results: Replanned[];
  positions: PositionState[];
  supplies: SupplyState[];
  holds: Map<string, number>;
}

export function replan(state: AllocationState & { now?: Date | undefined }, rules: RulesDocument, displaced: readonly Displaced[]): ReplanResult {
  let cur = { positions: state.positions, supplies: state.supplies ?? [], holds: state.holds ?? new Map<string, number>() };
  const results: Replanned[] = [];
  for (const d of displaced) {
    const attempt = (q: number) =>
      decideBatch(cur, rules, [{ channel: d.channel, lines: [{ sku: d.sku, qty: q, location: d.location }], allowBackorder: true }], state.now);
    let best: { q: number; r: ReturnType<typeof decideBatch> } | undefined;
    const full = d.qty > 0 ? attempt(d.qty) : undefined;
    if (full?.outcomes[0]!.ok) best = { q: d.qty, r: full };
    else {
      // the largest coverable quantity (coverage is monotone in the quantity asked)
      let lo = 1;
      let hi = d.qty - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        const r = attempt(mid);
        if (r.outcomes[0]!.ok) {
          best = { q: mid, r };
          lo = mid + 1;
        } else hi = mid - 1;
      }
    }
    if (best) {
      const o = best.r.outcomes[0]!;
      cur = { positions: best.r.positions, supplies: best.r.supplies, holds: best.r.holds };
      // Stryker disable next-line ArrayDeclaration: unreachable — `best` is only ever an accepted outcome, so the `[]` branch never runs (docs/TESTING.md)
      results.push({ ref: d.ref, sku: d.sku, qty: d.qty, allocations: o.ok ? o.lines[0]!.allocations : [], shortQty: d.qty - best.q });
    } else {
      results.push({ ref: d.ref, sku: d.sku, qty: d.qty, allocations: [], shortQty: d.qty });
    }
  }
  return { results, ...cur };
}
