/**
 * Promise dates, as a pure function: the earliest date each line (and the whole order) could be
 * delivered from, decided exactly as `decideBatch` would allocate a backorder-allowed reservation
 * of the same lines for the same channel on the same state. So a reservation made right after a
 * promise, on unchanged stock, gets allocations no later than the promised dates ("the promise
 * never lies"; property-tested in test/supply.property.test.ts).
 *
 * A line covered on hand is promised `now`; a line reaching into inbound supply is promised the
 * latest expected date it needs. The order date (ship-complete) is the latest line date when the
 * whole order can be covered together, else null with the reason; then each line is also
 * decided on its own so the caller sees which lines could be promised separately.
 */
import { type AllocationState, decideBatch, type LineRequest, type PlannedAllocation } from './allocate.js';
import type { DomainError, ShortLine } from './errors.js';
import type { RulesDocument } from '../rules/schema.js';

export interface LinePromise {
  lineNo: number;
  sku: string;
  qty: number;
  location?: string;
  /** earliest date this line can be delivered; null when nothing on hand or planned covers it */
  promisedAt: Date | null;
  /** 'on-hand' | 'inbound' | 'mixed'; absent when null */
  source?: 'on-hand' | 'inbound' | 'mixed';
  allocations: PlannedAllocation[];
  reason?: string;
  detail?: string;
}

export interface OrderPromise {
  /** ship-complete date for the whole order, or null */
  promisedAt: Date | null;
  reason?: string;
  detail?: string;
  lines: LinePromise[];
}

function lineDate(allocs: readonly PlannedAllocation[], now: Date): Date {
  let d = now;
  for (const a of allocs) if (a.promisedAt && a.promisedAt > d) d = a.promisedAt;
  return d;
}

function sourceOf(allocs: readonly PlannedAllocation[]): LinePromise['source'] {
  const inbound = allocs.filter((a) => a.supplyId).length;
  return inbound === 0 ? 'on-hand' : inbound === allocs.length ? 'inbound' : 'mixed';
}

const REASONS: Record<ShortLine['reason'], string> = {
  'insufficient-stock': 'not-enough-supply',
  protected: 'protected',
  'channel-cap': 'channel-cap',
  'location-not-allowed': 'location-not-allowed',
};

function explain(err: DomainError, sku?: string): { reason: string; detail: string } {
  const lines = ((err as { lines?: ShortLine[] }).lines ?? []).filter((l) => !sku || l.sku === sku);
  const first = lines[0];
  if (!first) return { reason: err.code, detail: err.message };
  const detail =
    first.reason === 'insufficient-stock'
      ? `${first.sku}: on hand and inbound supply in the allowed locations do not cover ${first.requested} (on hand for this channel: ${first.available})`
      : first.reason === 'location-not-allowed'
        ? `${first.sku}: location ${first.location} is not allowed for this channel`
        : `${first.sku}: held back by channel rules (${first.reason}); on hand for this channel: ${first.available}`;
  return { reason: REASONS[first.reason], detail };
}

export function promiseOrder(state: AllocationState, rules: RulesDocument, channel: string, lines: readonly LineRequest[], now: Date): OrderPromise {
  // overdue inbound supply is promised from now, as a reservation made now would be
  const whole = decideBatch(state, rules, [{ channel, lines: [...lines], allowBackorder: true }], now).outcomes[0]!;
  const base = (l: LineRequest, i: number) => ({ lineNo: i + 1, sku: l.sku, qty: l.qty, ...(l.location ? { location: l.location } : {}) });
  if (whole.ok) {
    const out = lines.map((l, i) => {
      const allocs = whole.lines.find((p) => p.lineNo === i + 1)!.allocations;
      return { ...base(l, i), promisedAt: lineDate(allocs, now), source: sourceOf(allocs), allocations: allocs };
    });
    const promisedAt = out.reduce((d, l) => (l.promisedAt > d ? l.promisedAt : d), now);
    return { promisedAt, lines: out };
  }
  const why = explain(whole.error);
  return {
    promisedAt: null,
    ...why,
    lines: lines.map((l, i) => {
      const alone = decideBatch(state, rules, [{ channel, lines: [l], allowBackorder: true }], now).outcomes[0]!;
      if (alone.ok) {
        const allocs = alone.lines[0]!.allocations;
        return { ...base(l, i), promisedAt: lineDate(allocs, now), source: sourceOf(allocs), allocations: allocs };
      }
      return { ...base(l, i), promisedAt: null, allocations: [], ...explain(alone.error, l.sku) };
    }),
  };
}
