/**
 * Outbox retention: delete rows older than the retention period, in batches (short transactions,
 * oldest first along the primary key). With a relay, only rows already published are deleted —
 * an unpublished row is never lost, however old. Without a relay (no REDIS_URL, events are read
 * over GET /v1/events only) nothing is ever marked published, so `includeUnpublished` lets the
 * service bound the table by age alone.
 */
import { sql } from 'drizzle-orm';
import { type Clock, nowSql } from '../db/clock.js';
import { type Db, query } from '../db/client.js';

/** Delete outbox rows older than `retentionHours` by Postgres time (or the test `clock`); returns how many. */
export async function purgeOutbox(db: Db, retentionHours: number, opts: { includeUnpublished?: boolean; batchSize?: number; clock?: Clock | undefined } = {}): Promise<number> {
  const batch = opts.batchSize ?? 5000;
  const published = opts.includeUnpublished ? sql`` : sql`and (txid, id) <= (select c.txid, c.outbox_id from relay_cursor c where c.id = 1)`;
  let total = 0;
  for (;;) {
    const rows = await query(
      db,
      sql`delete from outbox where id in (
            select id from outbox
            where created_at < ${nowSql(opts.clock)} - make_interval(hours => ${retentionHours}) ${published}
            order by id limit ${batch})
          returning 1`,
    );
    total += rows.length;
    if (rows.length < batch) return total;
  }
}
