/** Positions as the allocation state sees them (PositionState), read from their rows, and as answers show them (contract/atp.ts Position). */
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import type { SqlRow } from '../db/rows.js';
import type { locations, positions } from '../db/schema.js';
import { availableOf, type PositionState } from '../domain/allocate.js';
import type { Position } from '../contract/atp.js';

/** A position's stock columns with its location's rank. */
export type PositionRow = Pick<SqlRow<typeof positions>, 'sku' | 'location' | 'on_hand' | 'reserved' | 'quality_hold' | 'safety_stock'> & Pick<SqlRow<typeof locations>, 'rank'>;

export const toState = (r: PositionRow): PositionState => ({
  sku: r.sku,
  location: r.location,
  rank: r.rank,
  onHand: r.on_hand,
  reserved: r.reserved,
  qualityHold: r.quality_hold,
  safetyStock: r.safety_stock,
});

/**
 * Positions of these SKUs with their location rank, ordered by sku, rank, location. One statement,
 * no locks (a read at one snapshot). Errors: the driver's.
 */
export async function loadPositions(exec: Exec, skus: readonly string[]): Promise<PositionState[]> {
  const rows = await query<PositionRow>(
    exec,
    sql`select p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock
        from positions p join locations l on l.id = p.location
        where p.sku = any(${pgArray(skus)}::text[])
        order by p.sku, l.rank, p.location`,
  );
  return rows.map(toState);
}

/** A position as answers and events show it (contract/atp.ts Position). */
export const positionDto = (p: PositionState): Position => ({
  sku: p.sku,
  location: p.location,
  onHand: p.onHand,
  reserved: p.reserved,
  qualityHold: p.qualityHold,
  safetyStock: p.safetyStock,
  available: availableOf(p),
});
