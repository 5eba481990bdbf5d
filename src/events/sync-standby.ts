/**
 * The relay's gate under synchronous replication: a pass appends to the stream only rows whose
 * commits the synchronous standby(s) have confirmed (flushed), so the stream never carries an
 * event of a commit that a failover can discard.
 *
 * Why it is needed (failover run 9, docs/RELIABILITY.md): on a primary, a commit becomes visible
 * to other sessions before the synchronous standby has confirmed it when its wait is cut short —
 * a cancel, a terminated backend, a primary shut down (pg_auto_failover demoting a resumed
 * primary: "The transaction has already committed locally, but might not have been replicated to
 * the standby") — and after a crash restart every locally flushed commit is visible. A relay
 * reading there would publish rows the promoted standby never had.
 *
 * Supported `synchronous_standby_names` forms: `FIRST n (…)`, `n (…)`, `ANY n (…)` and a plain
 * list (`a, b` = FIRST 1). Confirmed means: at least n standbys that pg_stat_replication shows as
 * `sync` or `quorum` have flushed the target LSN — for FIRST n those are the n chosen standbys,
 * for ANY n any n of the quorum, which is what Postgres itself waits for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';

/** How long a pass waits for the confirmation, and how often it asks. */
export interface SyncWait {
  timeoutMs: number;
  pollMs: number;
}

export const DEFAULT_SYNC_WAIT: SyncWait = { timeoutMs: 2000, pollMs: 10 };

/** A pass gave up waiting for the synchronous standby(s): it published nothing. */
export class SyncStandbyUnconfirmed extends Error {
  override name = 'SyncStandbyUnconfirmed';
}

/**
 * The number of standbys a commit waits for under `names` (a `synchronous_standby_names` value);
 * 0 when it is empty (no synchronous replication). Pure.
 */
export function syncStandbysRequired(names: string): number {
  const s = names.trim();
  if (s === '') return 0;
  const m = /^(?:(?:first|any)\s+)?(\d+)\s*\(/i.exec(s);
  return m ? Number(m[1]) : 1;
}

interface Confirmation {
  lsn: string;
  /** sync/quorum standbys whose flush_lsn has reached lsn */
  confirmed: number;
  /** walsenders whose details this role may not see (without pg_read_all_stats it sees only their pid) */
  hidden: number;
}

/**
 * `target` null: read the target now, `pg_current_wal_flush_lsn()`. It is at least the end of the
 * commit record of every transaction the caller's earlier statements saw committed: a commit made
 * with synchronous_commit on, remote_write, remote_apply or local flushes its commit record
 * (RecordTransactionCommit → XLogFlush) before it leaves the proc array, i.e. before any snapshot
 * sees it, and the flush position only grows. (`pg_current_wal_insert_lsn()` would also be such a
 * bound, but it includes WAL nobody has flushed yet — this pass's own row-lock record on the
 * cursor, an open transaction's inserts — which a quiet node never sends to a standby: the wait
 * would run out.) Not covered: rows committed with synchronous_commit = off, which are visible
 * before they are flushed; the service never writes the outbox that way.
 */
async function confirmation(tx: Exec, target: string | null): Promise<Confirmation> {
  const lsn = target === null ? sql`pg_current_wal_flush_lsn()` : sql`${target}::pg_lsn`;
  const [row] = await query<Confirmation>(
    tx,
    sql`with t as (select ${lsn} as lsn)
        select t.lsn::text as lsn,
               (select count(*)::int from pg_stat_replication r where r.sync_state in ('sync', 'quorum') and r.flush_lsn >= t.lsn) as confirmed,
               (select count(*)::int from pg_stat_replication r where r.sync_state is null) as hidden
        from t`,
  );
  return row!;
}

/**
 * Wait until `required` synchronous standbys have flushed the WAL of every commit that the
 * caller's transaction has seen so far (call it after reading the rows to publish).
 * Concurrency: read-only statements in the caller's transaction, polled every `pollMs` (the
 * poll only paces; the condition decides). Errors: rejects with SyncStandbyUnconfirmed after
 * `timeoutMs` (its message names the LSN, the setting, and pg_monitor when the role cannot see
 * the standbys' positions); database errors as the driver raises them.
 */
export async function awaitSyncStandbys(tx: Exec, names: string, wait: SyncWait = DEFAULT_SYNC_WAIT): Promise<void> {
  const required = syncStandbysRequired(names);
  if (required === 0) return;
  const deadline = Date.now() + wait.timeoutMs;
  let c = await confirmation(tx, null);
  while (c.confirmed < required) {
    if (Date.now() >= deadline) {
      const hidden =
        c.hidden > 0
          ? `; pg_stat_replication hides ${c.hidden} standby position(s) from this role: grant it pg_monitor (or pg_read_all_stats)`
          : '';
      throw new SyncStandbyUnconfirmed(
        `outbox relay: waited ${wait.timeoutMs} ms for ${required} synchronous standby(s) (synchronous_standby_names = '${names}') to confirm WAL up to ${c.lsn}, ${c.confirmed} did; published nothing${hidden}`,
      );
    }
    await sleep(wait.pollMs);
    c = await confirmation(tx, c.lsn);
  }
}
