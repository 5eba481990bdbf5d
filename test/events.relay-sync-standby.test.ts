/**
 * Invariant proven (two private Postgres 15 nodes, the shared Redis): under synchronous
 * replication the relay appends to the stream only outbox rows whose commits the synchronous
 * standby has confirmed (src/events/sync-standby.ts; failover run 9, docs/RELIABILITY.md).
 *
 * A primary and a hot standby of it (test/faults/helpers/private-postgres.ts, free ports), the
 * primary with `synchronous_standby_names = 'ANY 1 (<the standby>)'` as pg_auto_failover sets it.
 * The standby is stopped and a row is committed with `synchronous_commit = local` — visible on
 * the primary, on no standby, as a commit released by a demoted primary's shutdown is. A pass
 * appends nothing and fails naming the wait, the cursor stays; once the standby is back the
 * relay's loop publishes the row. A role without pg_monitor cannot see the standby's position:
 * its pass fails the same way and says so. Every wait here waits for a condition; the bounds are
 * guards against a hang, not measures.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { drizzle } from 'drizzle-orm/postgres-js';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { type Database, type Db, openDatabase } from '../src/db/client.js';
import { migrateDatabase } from '../src/db/migrate.js';
import { OutboxRelay } from '../src/events/relay.js';
import { SyncStandbyUnconfirmed, syncStandbysRequired } from '../src/events/sync-standby.js';
import { type PrivatePostgres, startPrivatePostgres } from './faults/helpers/private-postgres.js';

const SHARED_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const WAIT = { timeoutMs: 300, pollMs: 10 };

let primary: PrivatePostgres | undefined;
let standby: PrivatePostgres | undefined;
let admin: postgres.Sql | undefined;
let database: Database | undefined;
let redis: Redis | undefined;
const streams: string[] = [];

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    if (i > 3000) throw new Error(`not reached in 60 s: ${what}`);
    await sleep(20);
  }
}

const newStream = () => {
  const s = `test:atp-events:${randomBytes(6).toString('hex')}`;
  streams.push(s);
  return s;
};

/** The standby's application_name once it streams (pg_stat_replication on the primary). */
async function streamingStandby(): Promise<string> {
  let name = '';
  await until('the standby streams', async () => {
    const rows = await admin!<{ application_name: string }[]>`select application_name from pg_stat_replication where state = 'streaming'`;
    name = rows[0]?.application_name ?? '';
    return name !== '';
  });
  return name;
}

const cursor = async () => (await admin!<{ c: string }[]>`select txid::text || '-' || outbox_id::text as c from relay_cursor where id = 1`)[0]!.c;

/** One outbox row, committed without waiting for any standby (flushed on the primary only). */
async function commitLocally(subject: string): Promise<void> {
  await admin!.begin(async (tx) => {
    await tx`set local synchronous_commit = local`;
    await tx`insert into outbox (type, subject, data, created_at) values ('inventory.adjusted', ${subject}, ${tx.json({ subject })}, now())`;
  });
}

beforeAll(async () => {
  primary = await startPrivatePostgres();
  admin = postgres(primary.url(), { max: 2, onnotice: () => {} });
  const url = primary.url();
  database = await openDatabase(loadConfig({ DATABASE_URL: url, ATP_DB_POOL_MAX: '2', ATP_READ_POOL_MAX: '1' }));
  await migrateDatabase(database, url);
  standby = await startPrivatePostgres({ standbyOf: primary });
  const name = await streamingStandby();
  await admin.unsafe(`alter system set synchronous_standby_names = 'ANY 1 ("${name.replace(/"/g, '""')}")'`);
  await admin`select pg_reload_conf()`;
  await until('the standby is a synchronous (quorum) standby', async () => {
    const [r] = await admin!<{ ok: boolean }[]>`select current_setting('synchronous_standby_names') <> '' and exists (select 1 from pg_stat_replication where sync_state = 'quorum') as ok`;
    return r!.ok;
  });
  redis = new Redis(SHARED_REDIS);
});

afterAll(async () => {
  if (streams.length) await redis?.del(...streams);
  redis?.disconnect();
  await database?.close();
  await admin?.end({ timeout: 1 });
  standby?.destroy();
  primary?.destroy();
});

it('the number of standbys a commit waits for, from synchronous_standby_names', () => {
  expect([
    syncStandbysRequired(''),
    syncStandbysRequired('  '),
    syncStandbysRequired('a, b'),
    syncStandbysRequired('*'),
    syncStandbysRequired('2 (a, b, c)'),
    syncStandbysRequired('FIRST 2 (a, b, c)'),
    syncStandbysRequired('ANY 1 (pgautofailover_standby_2, pgautofailover_standby_3)'),
    syncStandbysRequired('any 3("a","b","c")'),
  ]).toEqual([0, 0, 1, 1, 2, 2, 1, 3]);
});

it('a row the synchronous standby has not confirmed is not appended; the relay publishes it once the standby has it', async () => {
  const stream = newStream();
  // The relay's own commits (its cursor row lock gives every pass a transaction id) would wait for
  // the stopped standby, and a relay without the gate would hang in its cursor commit instead of
  // failing here: its session commits with synchronous_commit = local. The gate is about the
  // rows' commits, whoever made them, not about the relay session's setting.
  const client = postgres(primary!.url(), { max: 2, onnotice: () => {}, connection: { synchronous_commit: 'local' } });
  const relay = new OutboxRelay({ db: drizzle({ client }) as unknown as Db, redis: SHARED_REDIS, stream, maxLen: 1000, syncWait: WAIT, minBackoffMs: 20, maxBackoffMs: 200 });
  let standbyDown = false;
  try {
    await until('redis ready', async () => relay.status().redis === 'ready');
    // confirmed: a commit that waited for the standby is published
    await admin!`insert into outbox (type, subject, data, created_at) values ('inventory.adjusted', 'SYNC-1', ${admin!.json({ n: 1 })}, now())`;
    await until('the confirmed row is published', async () => (await relay.publishOnce()).published === 1);
    expect(await redis!.xlen(stream)).toBe(1);

    standby!.stop('fast');
    standbyDown = true;
    await until('the standby is gone', async () => (await admin!`select 1 from pg_stat_replication`).length === 0);
    await commitLocally('SYNC-2');
    const before = await cursor();
    const failure = await relay.publishOnce().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(SyncStandbyUnconfirmed);
    expect((failure as Error).message).toMatch(/synchronous standby.*confirm WAL up to .*published nothing/);
    expect(await redis!.xlen(stream)).toBe(1);
    expect(await cursor()).toBe(before);

    // the loop reports why it is not publishing, and keeps the row waiting
    relay.start();
    await until('the loop reports the wait', async () => relay.status().failing && /synchronous standby/.test(relay.status().lastError ?? ''));
    expect(await redis!.xlen(stream)).toBe(1);
    expect(await cursor()).toBe(before);

    standby!.start();
    standbyDown = false;
    await until('the row is published once the standby has it', async () => (await redis!.xlen(stream)) === 2);
    const subjects = (await redis!.xrange(stream, '-', '+')).map(([, f]) => f[f.indexOf('subject') + 1]);
    expect(subjects).toEqual(['SYNC-1', 'SYNC-2']);
    expect(await cursor()).not.toBe(before);
  } finally {
    // a failure with the standby stopped leaves it to the next test running
    if (standbyDown) standby!.start();
    await relay.stop(0);
    await client.end({ timeout: 1 });
  }
});

it('a role that cannot see the standbys (no pg_monitor) publishes nothing, and the error says to grant pg_monitor', async () => {
  await streamingStandby();
  const role = `relay_nomon_${randomBytes(3).toString('hex')}`;
  await admin!.unsafe(`create role ${role} login`);
  await admin!.unsafe(`grant select, insert, update, delete on all tables in schema public to ${role}`);
  const client = postgres(primary!.url(), { max: 1, username: role, onnotice: () => {} });
  const stream = newStream();
  const relay = new OutboxRelay({ db: drizzle({ client }) as unknown as Db, redis: SHARED_REDIS, stream, maxLen: 1000, syncWait: WAIT });
  try {
    await until('redis ready', async () => relay.status().redis === 'ready');
    await admin!`insert into outbox (type, subject, data, created_at) values ('inventory.adjusted', 'SYNC-3', ${admin!.json({ n: 3 })}, now())`;
    await expect(relay.publishOnce()).rejects.toThrow(/hides 1 standby position.*grant it pg_monitor/);
    expect(await redis!.xlen(stream)).toBe(0);
    await admin!.unsafe(`grant pg_monitor to ${role}`);
    await until('published with pg_monitor', async () => (await relay.publishOnce()).published === 1);
    expect(await redis!.xlen(stream)).toBe(1);
  } finally {
    await relay.stop(0);
    await client.end({ timeout: 1 });
  }
});
