/**
 * Stock-level events derived from a change, emitted by every writer the same way:
 * - `sku.sold_out`: the SKU's total available (over all locations, after quality hold and safety
 *   stock) went from above 0 to 0;
 * - `sku.below_reorder_point`: a position's projected stock (onHand + open inbound − reserved −
 *   backordered, the definition GET /v1/replenishment uses) went from above its reorder point to
 *   at or below it — once per crossing, not again while it stays there.
 * The crossing functions are pure; `loadProjected` reads what they need inside the writer's
 * transaction (which holds the positions' locks).
 */
import { pgArray } from '../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import { availableOf } from '../domain/allocate.js';
import { type OutboxEvent, outboxEvent } from './types.js';

export interface AvailablePoint {
  sku: string;
  location: string;
  onHand: number;
  reserved: number;
  qualityHold: number;
  safetyStock: number;
}

export interface ProjectedPoint {
  sku: string;
  location: string;
  onHand: number;
  reserved: number;
  /** open inbound supply not yet received */
  inbound: number;
  /** part of that inbound already promised to backorders */
  backordered: number;
  reorderPoint: number | null;
  reorderQty: number | null;
}

export const projectedOf = (p: ProjectedPoint) => p.onHand + p.inbound - p.reserved - p.backordered;
const key = (p: { sku: string; location: string }) => `${p.sku}@${p.location}`;

/** `sku.sold_out` for each SKU whose total available went from > 0 to 0. Pass every position of each SKU. */
export function soldOutCrossings(before: readonly AvailablePoint[], after: readonly AvailablePoint[], at: Date): OutboxEvent[] {
  const total = (ps: readonly AvailablePoint[], sku: string) => ps.filter((p) => p.sku === sku).reduce((s, p) => s + availableOf(p), 0);
  return [...new Set(after.map((p) => p.sku))]
    .sort()
    .filter((sku) => total(before, sku) > 0 && total(after, sku) === 0)
    .map((sku) => outboxEvent('sku.sold_out', sku, { sku, at: at.toISOString() }));
}

const isBelow = (p: ProjectedPoint | undefined) => p !== undefined && p.reorderPoint !== null && projectedOf(p) <= p.reorderPoint;

/** `sku.below_reorder_point` for each position that is at or below its point after and was not before (a position missing from `before` was not). */
export function reorderCrossings(before: readonly ProjectedPoint[], after: readonly ProjectedPoint[], at: Date): OutboxEvent[] {
  const prev = new Map(before.map((p) => [key(p), p]));
  return after
    .filter((p) => isBelow(p) && !isBelow(prev.get(key(p))))
    .map((p) =>
      outboxEvent('sku.below_reorder_point', key(p), {
        sku: p.sku,
        location: p.location,
        reorderPoint: p.reorderPoint!,
        reorderQty: p.reorderQty,
        projected: projectedOf(p),
        onHand: p.onHand,
        reserved: p.reserved,
        inbound: p.inbound,
        backordered: p.backordered,
        at: at.toISOString(),
      }),
    );
}

/**
 * Positions that have a reorder point, with their open inbound and backorders: of these SKUs, or
 * of every SKU (`skus` undefined, GET /v1/replenishment), optionally at one location.
 */
export async function loadProjected(exec: Exec, skus: readonly string[] | undefined, location?: string): Promise<ProjectedPoint[]> {
  if (skus?.length === 0) return [];
  const list = skus && pgArray(skus);
  const supplyWhere = list ? sql`and sku = any(${list}::text[])` : sql``;
  const positionWhere = sql.join(
    [
      ...(list ? [sql`and p.sku = any(${list}::text[])`] : []),
      ...(location !== undefined ? [sql`and p.location = ${location}`] : []),
    ],
    sql` `,
  );
  const rows = await query<{ sku: string; location: string; on_hand: number; reserved: number; inbound: number; backordered: number; reorder_point: number; reorder_qty: number | null }>(
    exec,
    sql`select p.sku, p.location, p.on_hand, p.reserved, p.reorder_point, p.reorder_qty,
          coalesce(s.inbound, 0)::int as inbound, coalesce(s.backordered, 0)::int as backordered
        from positions p
        left join (select sku, location, sum(qty - received_qty) as inbound, sum(allocated_qty) as backordered
                   from supply where status = 'open' ${supplyWhere}
                   group by sku, location) s using (sku, location)
        where p.reorder_point is not null ${positionWhere}
        order by p.sku, p.location`,
  );
  return rows.map((r) => ({
    sku: r.sku,
    location: r.location,
    onHand: r.on_hand,
    reserved: r.reserved,
    inbound: r.inbound,
    backordered: r.backordered,
    reorderPoint: r.reorder_point,
    reorderQty: r.reorder_qty,
  }));
}

export interface StockSnapshot {
  skus: readonly string[];
  available: AvailablePoint[];
  projected: ProjectedPoint[];
}

/** What the crossings need of these SKUs, read inside a transaction that holds their positions' locks. */
export async function stockSnapshot(exec: Exec, skus: readonly string[]): Promise<StockSnapshot> {
  if (skus.length === 0) return { skus, available: [], projected: [] };
  const available = await query<AvailablePoint>(
    exec,
    sql`select sku, location, on_hand as "onHand", reserved, quality_hold as "qualityHold", safety_stock as "safetyStock"
        from positions where sku = any(${pgArray(skus)}::text[]) order by sku, location`,
  );
  return { skus, available, projected: await loadProjected(exec, skus) };
}

/**
 * The sold-out and reorder-point events of everything the transaction changed since `before`
 * (for writers whose effects on stock are spread over several statements: supply changes, short
 * picks). `at` is the transaction's instant (db/clock.ts). Emit the result in the same transaction.
 */
export async function stockChangeEvents(exec: Exec, before: StockSnapshot, at: Date): Promise<OutboxEvent[]> {
  const after = await stockSnapshot(exec, before.skus);
  return [...soldOutCrossings(before.available, after.available, at), ...reorderCrossings(before.projected, after.projected, at)];
}
