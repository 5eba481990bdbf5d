/**
 * The one ledger writer (issue 14, "one write path"): every change of `on_hand` is recorded here,
 * with its reason, in the transaction of the change — Σ `delta_on_hand` per position equals
 * `positions.on_hand` (checked by /v1/consistency and the tests). Changes of `reserved` are not
 * ledgered (reserved = Σ active allocations).
 *
 * Concurrency: the caller holds the position's row lock (every writer of `on_hand` does); this
 * module takes no lock of its own. Errors: the driver's, in the caller's transaction.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';

/** One movement of onHand at a position. */
export interface LedgerEntry {
  sku: string;
  location: string;
  deltaOnHand: number;
  /** why: cycle-count, receipt, commit, short-pick, a caller's reason for a count … */
  reason: string;
  /** the reservation it shipped or fell short for, if any */
  reservationId?: string | null | undefined;
  /** the document it came from (supply receipt, short pick), if any */
  ref?: string | null | undefined;
}

/**
 * The insert of `entries` by `actor` at `at`, as one statement (`unnest` over typed arrays) that a
 * writer may also use as a data-modifying CTE of its own statement (`g as (${ledgerInsert(…)} returning 1)`).
 */
export function ledgerInsert(entries: readonly LedgerEntry[], actor: string, at: Date): SQL {
  return sql`insert into ledger (sku, location, delta_on_hand, reason, actor, reservation_id, ref, created_at)
    select d.sku, d.location, d.delta, d.reason, ${actor}, d.reservation_id, d.ref, ${at.toISOString()}::timestamptz
    from unnest(${pgArray(entries.map((e) => e.sku))}::text[], ${pgArray(entries.map((e) => e.location))}::text[], ${pgArray(entries.map((e) => e.deltaOnHand))}::int[],
                ${pgArray(entries.map((e) => e.reason))}::text[], ${pgArray(entries.map((e) => e.reservationId ?? null))}::uuid[], ${pgArray(entries.map((e) => e.ref ?? null))}::text[])
         as d(sku, location, delta, reason, reservation_id, ref)`;
}

/** Record `entries` in the caller's transaction (nothing when there are none). */
export async function recordLedger(tx: Exec, entries: readonly LedgerEntry[], actor: string, at: Date): Promise<void> {
  if (entries.length === 0) return;
  await query(tx, ledgerInsert(entries, actor, at));
}
