/**
 * Outbox helpers for tests that read the feed, run availability passes or drive the relay. The
 * relay's position: rows above `relay_cursor` (in (txid, id) order) are unpublished
 * (src/events/relay.ts).
 */
import type postgres from 'postgres';

/**
 * Wait until every outbox row is below the xmin horizon: the feed, the relay and the
 * availability publisher read only rows of transactions older than every one still open in the
 * cluster — and other test files' transactions share this Postgres. Waits for a condition, not
 * for a duration (throws after 30 s: a transaction left open).
 */
export async function settled(sql: postgres.Sql): Promise<void> {
  for (let i = 0; i < 3000; i++) {
    const [r] = await sql`select not exists (select 1 from outbox where txid >= pg_snapshot_xmin(pg_current_snapshot())) as ok`;
    if (r!.ok) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('outbox rows did not settle in 30 s (a transaction left open?)');
}

/** SQL condition: outbox row `o` is above the relay's cursor (not yet published). */
export const ABOVE_CURSOR = '(o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c where c.id = 1)';

/** How many outbox rows are unpublished. */
export async function unpublished(sql: postgres.Sql): Promise<number> {
  const [row] = await sql.unsafe<{ n: number }[]>(`select count(*)::int as n from outbox o where ${ABOVE_CURSOR}`);
  return row!.n;
}

/** Mark every row published (the cursor on the last row). */
export async function markAllPublished(sql: postgres.Sql): Promise<void> {
  await sql`update relay_cursor c set txid = o.txid, outbox_id = o.id
            from (select txid, id from outbox order by txid desc, id desc limit 1) o where c.id = 1`;
}

/** Move the cursor back to just before this row: it and every row after it are unpublished again. */
export async function unpublishFrom(sql: postgres.Sql, where: { eventIds?: string[]; ids?: string[] }): Promise<void> {
  const [first] = where.eventIds
    ? await sql<{ txid: string; id: string }[]>`select txid::text, id::text from outbox where event_id = any(${where.eventIds}::uuid[]) order by txid, id limit 1`
    : await sql<{ txid: string; id: string }[]>`select txid::text, id::text from outbox where id = any(${where.ids!}::bigint[]) order by txid, id limit 1`;
  if (!first) throw new Error('unpublishFrom: no such row');
  await sql`update relay_cursor set txid = ${first.txid}::xid8, outbox_id = ${first.id}::bigint - 1 where id = 1`;
}
