/**
 * The hold-expiry sweeper. Each pass claims due holds with FOR UPDATE SKIP LOCKED (so any number
 * of instances sweep without blocking each other or a release/commit in flight on the same
 * reservation), releases what they still hold, marks them `expired` and emits one
 * `reservation.expired` event each — all in one transaction per pass. "Due" is decided by
 * Postgres time (or the test clock), read by the claiming statement, which every row and event of
 * the pass is stamped with.
 */
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../../db/clock.js';
import { type Db, query } from '../../db/client.js';
import { inTransaction } from '../../db/tx.js';
import { outboxEvent } from '../../events/types.js';
import { emit } from '../../events/outbox.js';
import { type AllocationChange, applyChanges, loadReservation, setStatus, settledStatus, toDto } from './allocation-changes.js';
import { moved } from './reservations.js';

/** Expire up to `limit` due holds (expiresAt at or before the transaction's instant); returns how many were expired. */
export async function expireDue(db: Db, limit = 200, clock?: Clock): Promise<number> {
  return inTransaction(db, async (tx) => {
    const now = nowSql(clock); // one instant, bound twice
    const due = await query<{ id: string; at: Date | string }>(
      tx,
      sql`select id, ${now} as at from reservations where status = 'held' and expires_at <= ${now}
          order by id limit ${limit} for update skip locked`,
    );
    if (due.length === 0) return 0;
    const at = asDate(due[0]!.at);
    const loaded = [];
    for (const { id } of due) loaded.push(await loadReservation(tx, id));
    const changes: AllocationChange[] = loaded.flatMap((r) =>
      r.allocations
        .filter((a) => a.qty > 0)
        .map((a) => ({ allocationId: a.id, reservationId: r.row.id, channel: r.row.channel, sku: a.sku, location: a.location, supplyId: a.supply_id, release: a.qty, commit: 0 })),
    );
    await applyChanges(tx, changes, { release: 'expire', commit: 'ship' }, 'system:expiry', at);
    const events = loaded.map((r) => {
      const released = changes.filter((c) => c.reservationId === r.row.id).map((c) => moved(c, c.release));
      for (const a of r.allocations) {
        a.released_qty += a.qty;
        a.qty = 0;
      }
      r.row.status = settledStatus(r.allocations, 'expired');
      r.row.updated_at = at;
      return outboxEvent('reservation.expired', r.row.id, { released, reservation: toDto(r) });
    });
    for (const status of ['expired', 'committed'] as const) {
      await setStatus(tx, loaded.filter((r) => r.row.status === status).map((r) => r.row.id), status, at);
    }
    await emit(tx, events, at);
    return loaded.length;
  });
}

/** Forget stored idempotency responses older than the retention period (by Postgres time, or the test clock). */
export async function purgeIdempotency(db: Db, ttlHours: number, clock?: Clock): Promise<number> {
  const rows = await query(db, sql`delete from idempotency_keys where created_at < ${nowSql(clock)} - make_interval(hours => ${ttlHours}) returning 1`);
  return rows.length;
}
