/**
 * Stock-level events derived from a position change: `sku.sold_out` (the SKU's total available
 * went from above 0 to 0) and `sku.below_reorder_point` (a position's free stock crossed below
 * its reorder point). Pure: the caller passes the positions it holds locked before and after its
 * change, so every writer (reserve, cycle count, short pick) emits them the same way.
 */
import { availableOf } from '../domain/allocate.js';
import { type OutboxEvent, outboxEvent } from './types.js';

export interface StockPoint {
  sku: string;
  location: string;
  onHand: number;
  reserved: number;
  qualityHold: number;
  safetyStock: number;
  reorderPoint: number | null;
  reorderQty: number | null;
}

const key = (p: { sku: string; location: string }) => `${p.sku}\u0000${p.location}`;
const free = (p: StockPoint) => p.onHand - p.reserved - p.qualityHold;

/**
 * Events for the crossings between `before` and `after`. For `sku.sold_out`, pass every position
 * of each SKU concerned (the total is over all locations); positions missing from `before` count
 * as empty.
 */
export function stockCrossings(before: readonly StockPoint[], after: readonly StockPoint[], at: Date): OutboxEvent[] {
  const events: OutboxEvent[] = [];
  const prev = new Map(before.map((p) => [key(p), p]));
  const total = (ps: readonly StockPoint[], sku: string) => ps.filter((p) => p.sku === sku).reduce((s, p) => s + availableOf(p), 0);
  for (const sku of [...new Set(after.map((p) => p.sku))].sort()) {
    if (total(before, sku) > 0 && total(after, sku) === 0) events.push(outboxEvent('sku.sold_out', sku, { sku, at: at.toISOString() }));
  }
  for (const p of after) {
    if (p.reorderPoint === null || free(p) >= p.reorderPoint) continue;
    const b = prev.get(key(p));
    const wasBelow = b !== undefined && b.reorderPoint !== null && free(b) < b.reorderPoint;
    if (wasBelow) continue;
    events.push(
      outboxEvent('sku.below_reorder_point', key(p).replace('\u0000', '@'), {
        sku: p.sku,
        location: p.location,
        reorderPoint: p.reorderPoint,
        reorderQty: p.reorderQty,
        free: free(p),
        onHand: p.onHand,
        reserved: p.reserved,
        qualityHold: p.qualityHold,
        at: at.toISOString(),
      }),
    );
  }
  return events;
}
