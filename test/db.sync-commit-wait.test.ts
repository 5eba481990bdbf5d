/**
 * Invariant proven (two private Postgres 15 nodes): under synchronous replication a pool
 * transaction is never acknowledged before a synchronous standby has its commit — not even when
 * the COMMIT's wait for the standby outlasts statement_timeout. This is the premise of the
 * failover safety argument (scripts/ha/postgres.ts, docs/OPERATIONS.md "Failover timing"): once
 * every quorum standby has disconnected from the old primary (pg_auto_failover's report_lsn,
 * before it chooses a candidate), that primary can acknowledge no commit, however long it stays up.
 *
 * Why it needs proving: Postgres answers COMMIT as a success, with only a WARNING ("The
 * transaction has already committed locally, but might not have been replicated to the
 * standby"), when the wait is ended by a cancel. statement_timeout is a cancel, but Postgres
 * disarms it before the commit itself (finish_xact_command), so it does not end the wait; a
 * client-side cancel (pg_cancel_backend, postgres.js `query.cancel()`) would. The service sends
 * none: its bound abandons a stalled transaction without cancelling it (boundTransactions), and
 * the request is answered 503 (outcome unknown; the retry's Idempotency-Key finds it).
 *
 * A primary with `synchronous_standby_names = 'ANY 1 (<its hot standby>)'`; the standby stopped;
 * a pool transaction inserts a row with statement_timeout = 300 ms: it does not resolve (the
 * bound, 2 × 300 + 500 ms, abandons it with ATP_TRANSACTION_STALLED), the row stays invisible
 * and the backend waits in SyncRep; once the standby is back the commit completes.
 */
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Database, openDatabase, query, transactionBoundMs } from '../src/db/client.js';
import { type PrivatePostgres, startPrivatePostgres } from './faults/helpers/private-postgres.js';

let primary: PrivatePostgres | undefined;
let standby: PrivatePostgres | undefined;
let admin: postgres.Sql | undefined;
let database: Database | undefined;
const config = () => loadConfig({ DATABASE_URL: primary!.url(), ATP_STATEMENT_TIMEOUT_MS: '300', ATP_DB_CONNECT_TIMEOUT_MS: '500', ATP_DB_POOL_MAX: '2', ATP_READ_POOL_MAX: '1' });

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 3000) throw new Error(`not reached in 60 s: ${what}`);
    await sleep(20);
  }
}

const rows = async () => (await admin!<{ n: number }[]>`select count(*)::int as n from sync_commit_probe`)[0]!.n;

beforeAll(async () => {
  primary = await startPrivatePostgres();
  admin = postgres(primary.url(), { max: 2, onnotice: () => {} });
  await admin`create table sync_commit_probe (id int primary key)`;
  standby = await startPrivatePostgres({ standbyOf: primary });
  let name = '';
  await until('the standby streams', async () => {
    const r = await admin!<{ application_name: string }[]>`select application_name from pg_stat_replication where state = 'streaming'`;
    name = r[0]?.application_name ?? '';
    return name !== '';
  });
  await admin.unsafe(`alter system set synchronous_standby_names = 'ANY 1 ("${name.replace(/"/g, '""')}")'`);
  await admin`select pg_reload_conf()`;
  await until('the standby is a synchronous (quorum) standby', async () => {
    const [r] = await admin!<{ ok: boolean }[]>`select exists (select 1 from pg_stat_replication where sync_state = 'quorum') as ok`;
    return r!.ok;
  });
  database = await openDatabase(config());
}, 60_000);

afterAll(async () => {
  await database?.close();
  await admin?.end({ timeout: 1 });
  standby?.destroy();
  primary?.destroy();
});

it('a commit the synchronous standby has not confirmed is not acknowledged when statement_timeout passes; it completes once the standby is back', async () => {
  // with the standby up a pool transaction commits as usual
  await database!.db.transaction(async (tx) => {
    await tx.execute(sql`insert into sync_commit_probe values (1)`);
  });
  expect(await rows()).toBe(1);

  standby!.stop('fast');
  let standbyDown = true;
  try {
    await until('the standby is gone', async () => (await admin!`select 1 from pg_stat_replication`).length === 0);
    const started = Date.now();
    const outcome = await database!.db
      .transaction(async (tx) => {
        await tx.execute(sql`insert into sync_commit_probe values (2)`);
        return 'acknowledged';
      })
      .then(
        (v) => v,
        (e: { code?: string }) => e.code ?? String(e),
      );
    const ms = Date.now() - started;
    // not acknowledged: the client's bound gave up on it, long after statement_timeout
    expect(outcome).toBe('ATP_TRANSACTION_STALLED');
    expect(ms).toBeGreaterThanOrEqual(transactionBoundMs(config()) - 50);
    // still waiting for the standby on the server: invisible to other sessions
    expect(await rows()).toBe(1);
    const [waiting] = await admin!<{ n: number }[]>`select count(*)::int as n from pg_stat_activity where wait_event = 'SyncRep'`;
    expect(waiting!.n).toBe(1);

    standby!.start();
    standbyDown = false;
    await until('the commit completes once the standby confirms it', async () => (await rows()) === 2);
    // the pool goes on serving
    expect((await query<{ one: number }>(database!.db, sql`select 1 as one`))[0]!.one).toBe(1);
  } finally {
    if (standbyDown) standby!.start();
  }
}, 60_000);
