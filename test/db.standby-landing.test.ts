/**
 * A pool connection that postgres.js leaves on a hot standby is dropped at its first 25006, and
 * the next statement runs on the primary (src/db/generations.ts; issue 19's open finding).
 *
 * Two private Postgres 15 nodes (test/faults/helpers/private-postgres.ts, free ports): a primary
 * and a hot standby of it. The service's pools (openDatabase) get `standby,primary` with
 * target_session_attrs=read-write, as after a failover, one connection each. The driver's defect
 * is produced without any timing: a statement of the pool waits on an advisory lock another
 * session holds, its backend is terminated (FATAL 57P01 during a query, as in every failover under
 * load), and postgres.js keeps that error; its next connection goes to the next host — the
 * standby — and the stale error makes it skip the target_session_attrs check there. Without the
 * fix every later write on that pool fails with 25006 (until idle_timeout, 60 s); with it, one.
 */
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Database, openDatabase, query } from '../src/db/client.js';
import { errorCode } from '../src/db/errors.js';
import { inTransaction } from '../src/db/tx.js';
import { DomainError } from '../src/domain/errors.js';
import { type PrivatePostgres, startPrivatePostgres } from './faults/helpers/private-postgres.js';

let primary: PrivatePostgres | undefined;
let standby: PrivatePostgres | undefined;
let admin: postgres.Sql | undefined;
const LOCK = 19;

beforeAll(async () => {
  primary = await startPrivatePostgres();
  admin = postgres(primary.url(), { max: 3, onnotice: () => {} });
  await admin`create table landing (id serial primary key, note text not null)`;
  standby = await startPrivatePostgres({ standbyOf: primary });
  // the standby must know the table, or a write there fails with 42P01 instead of 25006
  const onStandby = postgres(standby.url(), { max: 1, onnotice: () => {} });
  try {
    for (let i = 0; ; i++) {
      const [row] = await onStandby<{ t: string | null }[]>`select to_regclass('landing')::text as t`;
      if (row!.t) break;
      if (i > 600) throw new Error('the standby did not replay the table');
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await onStandby.end();
  }
});

afterAll(async () => {
  await admin?.end({ timeout: 1 });
  standby?.destroy();
  primary?.destroy();
});

async function open(onReplaced: string[]): Promise<Database> {
  const config = loadConfig({
    DATABASE_URL: `postgres://postgres@127.0.0.1:${standby!.port},127.0.0.1:${primary!.port}/postgres?target_session_attrs=read-write`,
    ATP_DB_POOL_MAX: '1',
    ATP_READ_POOL_MAX: '1',
  });
  return openDatabase(config, { onPoolReplaced: ({ reason }) => onReplaced.push(reason) });
}

const inRecovery = async (database: Database) => (await query<{ r: boolean }>(database.db, sql`select pg_is_in_recovery() as r`))[0]!.r;
const readInRecovery = async (database: Database) => (await database.readStatement('select pg_is_in_recovery() as r', []))[0]!.r as boolean;

/**
 * Terminate the backend of the pool connection named `app` while it runs `waiting` (a statement
 * blocked on LOCK, which the admin session holds): the driver's stale-error state.
 */
async function terminateMidQuery(app: string, waiting: () => Promise<unknown>): Promise<void> {
  const holder = await admin!.reserve();
  try {
    await holder`select pg_advisory_lock(${LOCK})`;
    const pending = waiting().then(
      () => 'finished',
      (e: unknown) => errorCode(e),
    );
    let pid: number | undefined;
    for (let i = 0; pid === undefined; i++) {
      const rows = await admin!<{ pid: number }[]>`select pid from pg_stat_activity where application_name = ${app} and wait_event_type = 'Lock'`;
      pid = rows[0]?.pid;
      if (pid === undefined) {
        if (i > 600) throw new Error(`no waiting backend of ${app}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    await admin!`select pg_terminate_backend(${pid})`;
    expect(await pending).not.toBe('finished');
  } finally {
    await holder`select pg_advisory_unlock(${LOCK})`;
    holder.release();
  }
}

/** Run `attempt` until it succeeds (at most 5 tries, no waiting): the error codes seen on the way. */
async function untilDone(attempt: () => Promise<unknown>, codeOf: (e: unknown) => string | undefined): Promise<{ done: boolean; codes: (string | undefined)[] }> {
  const codes: (string | undefined)[] = [];
  for (let i = 0; i < 5; i++) {
    try {
      await attempt();
      return { done: true, codes };
    } catch (e) {
      codes.push(codeOf(e));
    }
  }
  return { done: false, codes };
}

it('autocommit writes: the connection left on the standby answers 25006 once, then the pools are on the primary (the read pool too)', async () => {
  const replaced: string[] = [];
  const database = await open(replaced);
  try {
    expect(await inRecovery(database)).toBe(false);
    expect(await readInRecovery(database)).toBe(false);

    await terminateMidQuery('atp-service-reads', () => database.readStatement('select pg_advisory_lock($1)', [LOCK]));
    // the read pool's next connection lands on the standby: the stale 57P01, then reads there
    const reads = await untilDone(async () => {
      if (!(await readInRecovery(database))) throw Object.assign(new Error('on the primary'), { code: 'primary' });
    }, errorCode);
    expect(reads, 'the read pool did not land on the standby: the defect was not reproduced').toEqual({ done: true, codes: ['57P01'] });

    await terminateMidQuery('atp-service', () => database.db.execute(sql`select pg_advisory_lock(${LOCK})`));
    const writes = await untilDone(() => database.db.execute(sql`insert into landing (note) values ('autocommit')`), errorCode);
    expect(writes.codes.filter((c) => c === '25006'), `codes seen: ${writes.codes.join(', ')}`).toHaveLength(1);
    expect(writes.done).toBe(true);
    expect(replaced).toHaveLength(1);
    expect(await inRecovery(database)).toBe(false);
    expect(await readInRecovery(database)).toBe(false);
  } finally {
    await database.close();
  }
  const [row] = await admin!<{ n: number }[]>`select count(*)::int as n from landing where note = 'autocommit'`;
  expect(row!.n).toBe(1);
});

it('transactions (the allocator, the sweeper, the outbox relay): one 503 database-read-only, then the retry commits on the primary', async () => {
  const replaced: string[] = [];
  const database = await open(replaced);
  try {
    expect(await inRecovery(database)).toBe(false);
    // stranded by an autocommit statement: terminating a transaction's backend instead runs into
    // the driver's other defect (a write queued on the closed socket, driver-guard.ts)
    await terminateMidQuery('atp-service', () => database.db.execute(sql`select pg_advisory_lock(${LOCK})`));
    const writes = await untilDone(
      () => inTransaction(database.db, async (tx) => tx.execute(sql`insert into landing (note) values ('transaction')`)),
      (e) => (e instanceof DomainError ? e.code : errorCode(e)),
    );
    expect(writes.codes.filter((c) => c === 'database-read-only'), `codes seen: ${writes.codes.join(', ')}`).toHaveLength(1);
    expect(writes.done).toBe(true);
    expect(replaced).toHaveLength(1);
    expect(await inRecovery(database)).toBe(false);
  } finally {
    await database.close();
  }
  const [row] = await admin!<{ n: number }[]>`select count(*)::int as n from landing where note = 'transaction'`;
  expect(row!.n).toBe(1);
});
