/**
 * Deterministic races: a raw transaction holds row or table locks while the work under test
 * starts, and lets go only once that many backends of the test database wait on a lock — so
 * every attempt has started (and taken its snapshot where it takes one after the lock) before
 * any of them can go on.
 */
import type postgres from 'postgres';

export async function whileLocked<T>(sql: postgres.Sql, dbUrl: string, lockSql: string, params: unknown[], waiters: number, start: () => Promise<T>[]): Promise<T[]> {
  const dbName = new URL(dbUrl).pathname.slice(1);
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let locked!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const holder = sql.begin(async (tx) => {
    await tx.unsafe(lockSql, params as never[]);
    locked();
    await released;
  });
  await isLocked;
  const work = start();
  for (let i = 0; ; i++) {
    const [row] = await sql`select count(*)::int as n from pg_stat_activity where datname = ${dbName} and wait_event_type = 'Lock'`;
    const n = (row as { n: number }).n;
    if (n >= waiters) break;
    if (i > 2000) throw new Error(`only ${n} of ${waiters} attempts ever waited`);
    await new Promise((r) => setImmediate(r));
  }
  release();
  await holder;
  return Promise.all(work);
}
