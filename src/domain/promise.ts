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
import { type AllocationState, decideBatch, type LineRequest, type PlannedAllocation, type PlannedLine } from './allocate.js';
import { type CallerLine, callerLines } from './caller-lines.js';
import type { DomainError, ShortLine } from './errors.js';
import type { RulesDocument } from '../contract/rules.js';

export interface LinePromise {
  lineNo: number;
  sku: string;
  qty: number;
  location?: string;
  /** earliest date this line can be delivered; null when nothing on hand or planned covers it */
  promisedAt: Date | null;
  /** 'on-hand' | 'inbound' | 'mixed'; absent when null */
  source?: 'on-hand' | 'inbound' | 'mixed';
  /** for a kit line, each names the component `sku` it sources */
  allocations: (PlannedAllocation & { sku?: string })[];
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

/**
 * Promise one answer line per line the caller wrote (`lines` are the expanded base-unit lines,
 * each carrying the caller's `line`): a kit line is answered as the kit, dated by its latest
 * component, with the components' sources (each naming its `sku`). Overdue inbound supply is
 * promised from `now`, as a reservation made now would be.
 */
export function promiseOrder(state: AllocationState, rules: RulesDocument, channel: string, lines: readonly LineRequest[], now: Date): OrderPromise {
  const groups = callerLines(lines);
  const whole = decideBatch(state, rules, [{ channel, lines: [...lines], allowBackorder: true }], now).outcomes[0]!;
  const base = (g: CallerLine) => ({ lineNo: g.line + 1, sku: g.sku, qty: g.qty, ...(g.location ? { location: g.location } : {}) });
  /** the group's allocations from planned lines numbered `lineNoOf(part)` */
  const allocsOf = (g: CallerLine, planned: readonly PlannedLine[], lineNoOf: (part: LineRequest, k: number) => number) =>
    g.parts.flatMap((part, k) => planned.find((p) => p.lineNo === lineNoOf(part, k))!.allocations.map((a) => (g.kit ? { ...a, sku: part.sku } : a)));
  const dated = (g: CallerLine, allocs: LinePromise['allocations']): LinePromise => ({ ...base(g), promisedAt: lineDate(allocs, now), source: sourceOf(allocs), allocations: allocs });
  if (whole.ok) {
    const out = groups.map((g) => dated(g, allocsOf(g, whole.lines, (part) => lines.indexOf(part) + 1)));
    const promisedAt = out.reduce((d, l) => (l.promisedAt! > d ? l.promisedAt! : d), now);
    return { promisedAt, lines: out };
  }
  const why = explain(whole.error);
  return {
    promisedAt: null,
    ...why,
    lines: groups.map((g) => {
      const alone = decideBatch(state, rules, [{ channel, lines: g.parts, allowBackorder: true }], now).outcomes[0]!;
      if (alone.ok) return dated(g, allocsOf(g, alone.lines, (_part, k) => k + 1));
      return { ...base(g), promisedAt: null, allocations: [], ...explain(alone.error) };
    }),
  };
}
