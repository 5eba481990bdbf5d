/**
 * Loading a reservation under lock and applying releases/commits to its allocations: shared by
 * release, commit, expiry (and short-pick resolution). Lock order: the reservation row(s) first,
 * then the positions they touch in (sku, location) order, then supply.
 */
import { pgArray } from '../../db/pg-array.js';
import { type LedgerEntry, ledgerInsert } from '../ledger.js';
import { type SQL, sql } from 'drizzle-orm';
import { type Exec, query, type Tx } from '../../db/client.js';
import { NotFound } from '../../domain/errors.js';
import { type AllocationRow, type LineRow, type ReservationRow, reservationDto, type ReservationDto } from './dto.js';

export interface LoadedReservation {
  row: ReservationRow & { caller: string };
  lines: LineRow[];
  allocations: (AllocationRow & { id: string })[];
}


/**
 * Load a reservation; with `lock`, its row is locked FOR UPDATE (serialising every verb on it).
 * `visible` restricts which channels' reservations the caller may see (others look like 404).
 */
export async function loadReservation(exec: Exec, id: string, opts: { lock?: boolean; visible?: ((channel: string) => boolean) | undefined } = {}): Promise<LoadedReservation> {
  const cols = sql`r.id, r.order_ref, r.channel, r.status, r.expires_at, r.rules_version, r.created_at, r.updated_at, r.caller`;
  if (!opts.lock) {
    // a read: the reservation, its lines and its allocations from ONE statement (one snapshot, one round trip)
    const [row] = await query<LoadedReservation['row'] & Parts>(exec, sql`select ${cols}, ${partsSql(sql`r.id`)} from reservations r where r.id = ${id}`);
    if (!row || (opts.visible && !opts.visible(row.channel))) throw new NotFound('reservation', id);
    const { lines, allocations, ...rest } = row;
    return { row: rest, lines: parsed(lines), allocations: parsed(allocations) };
  }
  // a change: the row lock first; then the lines and allocations in a statement whose snapshot
  // follows the lock (one taken with the lock would miss what the transaction we waited for wrote)
  const [row] = await query<LoadedReservation['row']>(exec, sql`select ${cols} from reservations r where r.id = ${id} for update`);
  if (!row || (opts.visible && !opts.visible(row.channel))) throw new NotFound('reservation', id);
  const [parts] = await query<Parts>(exec, sql`select ${partsSql(sql`${id}::uuid`)}`);
  return { row, lines: parsed(parts!.lines), allocations: parsed(parts!.allocations) };
}

interface Parts {
  lines: LineRow[] | string;
  allocations: LoadedReservation['allocations'] | string;
}

const parsed = <T>(v: T[] | string): T[] => (typeof v === 'string' ? (JSON.parse(v) as T[]) : v);

/** The lines (stored on the reservation row, in line_no order) and allocations (by id) of reservation `rid` as two json arrays of rows. */
function partsSql(rid: SQL) {
  return sql`coalesce((select l.lines from reservations l where l.id = ${rid}), '[]') as lines,
         coalesce((select json_agg(json_build_object('id', a.id::text, 'line_no', a.line_no, 'sku', a.sku, 'location', a.location, 'supply_id', a.supply_id,
                  'qty', a.qty, 'committed_qty', a.committed_qty, 'released_qty', a.released_qty, 'short_qty', a.short_qty, 'promised_at', a.promised_at) order by a.id)
              from allocations a where a.reservation_id = ${rid}), '[]') as allocations`;
}

export const toDto = (r: LoadedReservation): ReservationDto => reservationDto(r.row, r.lines, r.allocations);

export interface AllocationChange {
  allocationId: string;
  reservationId: string;
  channel: string;
  sku: string;
  location: string;
  supplyId: string | null;
  release: number;
  commit: number;
}

/** Lock positions in the global order before changing them (deadlock freedom with reserveBatch). */
export async function lockPositions(tx: Exec, pairs: readonly { sku: string; location: string }[]): Promise<void> {
  if (pairs.length === 0) return;
  await query(
    tx,
    sql`select 1 from positions p
        join unnest(${pgArray(pairs.map((p) => p.sku))}::text[], ${pgArray(pairs.map((p) => p.location))}::text[]) as k(sku, location)
          on k.sku = p.sku and k.location = p.location
        order by p.sku, p.location
        for update of p`,
  );
}

/**
 * Apply releases and commits to allocations, positions (reserved, and onHand for commits),
 * supply (backorders), channel holds and the onHand ledger (commits), in one statement stamped `at` (the
 * transaction's instant, db/clock.ts). Caller holds the reservation locks; this takes the
 * position locks.
 */
export async function applyChanges(tx: Tx, changes: readonly AllocationChange[], reason: { release: string; commit: string }, actor: string, at: Date): Promise<void> {
  const real = changes.filter((c) => c.release > 0 || c.commit > 0);
  if (real.length === 0) return;
  const onHand = real.filter((c) => !c.supplyId);
  await lockPositions(
    tx,
    [...new Map(onHand.map((c) => [`${c.sku}\u0000${c.location}`, c])).values()],
  );
  // the ledger audits onHand: a commit ships stock (one row); a release only moves `reserved` (none)
  const ledger: LedgerEntry[] = onHand.filter((c) => c.commit > 0).map((c) => ({ sku: c.sku, location: c.location, deltaOnHand: -c.commit, reason: reason.commit, reservationId: c.reservationId }));
  const now = sql`${at.toISOString()}::timestamptz`;
  await query(
    tx,
    sql`with
      c as (select * from unnest(${pgArray(real.map((c) => c.allocationId))}::bigint[], ${pgArray(real.map((c) => c.reservationId))}::uuid[], ${pgArray(real.map((c) => c.channel))}::text[],
              ${pgArray(real.map((c) => c.sku))}::text[], ${pgArray(real.map((c) => c.location))}::text[], ${pgArray(real.map((c) => c.supplyId))}::uuid[],
              ${pgArray(real.map((c) => c.release))}::int[], ${pgArray(real.map((c) => c.commit))}::int[])
              as d("allocationId", "reservationId", channel, sku, location, "supplyId", release, "commit")),
      a as (update allocations t set qty = t.qty - c.release - c."commit", released_qty = t.released_qty + c.release,
              committed_qty = t.committed_qty + c."commit"
            from c where t.id = c."allocationId" returning 1),
      p as (update positions t set reserved = t.reserved - d.rel - d.com, on_hand = t.on_hand - d.com, updated_at = ${now}
            from (select sku, location, sum(release)::int as rel, sum("commit")::int as com from c where "supplyId" is null group by sku, location) d
            where t.sku = d.sku and t.location = d.location returning 1),
      s as (update supply t set allocated_qty = t.allocated_qty - d.rel, updated_at = ${now}
            from (select "supplyId" as id, sum(release)::int as rel from c where "supplyId" is not null group by "supplyId") d
            where t.id = d.id returning 1),
      h as (update channel_holds t set reserved = t.reserved - d.q
            from (select sku, channel, sum(release + "commit")::int as q from c group by sku, channel) d
            where t.sku = d.sku and t.channel = d.channel returning 1),
      g as (${ledgerInsert(ledger, actor, at)} returning 1)
      select 1`,
  );
}

/** Status after a change: still held while anything is held; then committed if anything shipped. */
export function settledStatus(allocs: readonly { qty: number; committed_qty: number }[], terminal: 'released' | 'expired'): 'held' | 'committed' | 'released' | 'expired' {
  if (allocs.some((a) => a.qty > 0)) return 'held';
  return allocs.some((a) => a.committed_qty > 0) ? 'committed' : terminal;
}

/** Set the status of these reservations, stamped `at` (the transaction's instant). */
export async function setStatus(tx: Exec, ids: readonly string[], status: string, at: Date): Promise<void> {
  if (ids.length === 0) return;
  await query(tx, sql`update reservations set status = ${status}, updated_at = ${at.toISOString()}::timestamptz where id = any(${pgArray(ids)}::uuid[])`);
}
