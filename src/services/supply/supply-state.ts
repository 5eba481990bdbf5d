/**
 * Loading the allocation state of some SKUs — positions (with location rank), open inbound supply,
 * channel holds and the database's now() — either as a plain snapshot read (promise, ATP) or locked in the global lock
 * order (positions by sku, location; then open supply by sku, expected_at, id) for the verbs that
 * change it (receipts, slips, cancels, short picks).
 */
import { pgArray } from '../../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../../db/clock.js';
import { type Exec, query } from '../../db/client.js';
import type { SqlRow } from '../../db/rows.js';
import type { channelHolds, locations, positions as positionsTable, supply } from '../../db/schema.js';
import { type AllocationState, holdKey, type PositionState, type SupplyState } from '../../domain/allocate.js';

const json = (v: unknown) => sql`${JSON.stringify(v)}::jsonb`;

/** A supply row (`select s.*`) with its location's rank. */
export type SupplyRowFull = SqlRow<typeof supply> & Pick<SqlRow<typeof locations>, 'rank'>;

export interface LoadedState extends Required<AllocationState> {
  supplyRows: SupplyRowFull[];
  /** the transaction's instant (db/clock.ts): overdue supply is promised from it */
  now: Date;
}

/**
 * Load (with `lock`: lock) the state of these SKUs. `now`: the writer's transaction instant when it
 * has one (`at`), else read in the same round trip (Postgres time, or the test `clock`).
 */
export async function loadState(exec: Exec, skus: readonly string[], opts: { lock: boolean; at?: Date | undefined; clock?: Clock | undefined }): Promise<LoadedState> {
  const list = pgArray([...new Set(skus)].sort());
  // the three reads are issued together: pipelined on one connection they run in this order (so
  // with `lock`, positions are locked before supply, the global order) in one round trip
  const [positions, supplyRows, holdRows, clock] = await Promise.all([
    query<Pick<SqlRow<typeof positionsTable>, 'sku' | 'location' | 'on_hand' | 'reserved' | 'quality_hold' | 'safety_stock'> & Pick<SqlRow<typeof locations>, 'rank'>>(
    exec,
    opts.lock
      ? sql`select p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock
            from positions p join locations l on l.id = p.location
            where p.sku = any(${list}::text[]) order by p.sku, p.location for update of p`
      : sql`select p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock
            from positions p join locations l on l.id = p.location
            where p.sku = any(${list}::text[]) order by p.sku, p.location`,
    ),
    query<SupplyRowFull>(
    exec,
    opts.lock
      ? sql`select s.*, l.rank from supply s join locations l on l.id = s.location
            where s.sku = any(${list}::text[]) and s.status = 'open'
            order by s.sku, s.expected_at, s.id for update of s`
      : sql`select s.*, l.rank from supply s join locations l on l.id = s.location
            where s.sku = any(${list}::text[]) and s.status = 'open'
            order by s.sku, s.expected_at, s.id`,
    ),
    query<SqlRow<typeof channelHolds>>(exec, sql`select sku, channel, reserved from channel_holds where sku = any(${list}::text[])`),
    opts.at ? Promise.resolve([{ now: opts.at }]) : query<{ now: Date | string }>(exec, sql`select ${nowSql(opts.clock)} as now`),
  ]);
  return {
    positions: positions.map(
      (r): PositionState => ({ sku: r.sku, location: r.location, rank: r.rank, onHand: r.on_hand, reserved: r.reserved, qualityHold: r.quality_hold, safetyStock: r.safety_stock }),
    ),
    supplies: supplyRows.map(toSupplyState),
    holds: new Map(holdRows.map((h) => [holdKey(h.sku, h.channel), h.reserved])),
    supplyRows,
    now: asDate(clock[0]!.now),
  };
}

export const toSupplyState = (r: SupplyRowFull): SupplyState => ({
  id: r.id,
  sku: r.sku,
  location: r.location,
  rank: r.rank,
  free: r.qty - r.received_qty - r.allocated_qty,
  expectedAt: new Date(r.expected_at),
});
