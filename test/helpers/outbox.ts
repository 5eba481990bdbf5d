/** Outbox helpers for tests that read the feed or run availability passes. */
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
