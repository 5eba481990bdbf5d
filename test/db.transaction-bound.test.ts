/**
 * Every pool transaction settles within its bound (src/db/client.ts boundTransactions): a
 * transaction whose promise never settles — what postgres.js 3.4.9 can do when it loses a socket
 * in a failover, and what wedged the allocator in the failover rounds — is abandoned with
 * ATP_TRANSACTION_STALLED, answered 503 `timeout` with Retry-After, and the pool goes on serving.
 * The stall is a promise that never settles (no timing race: without the bound the test hangs).
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { openDatabase, query, transactionBoundMs, type Database } from '../src/db/client.js';
import { mapDatabaseError } from '../src/db/errors.js';
import { statusOf } from '../src/http/problem.js';
import { createTestDatabase } from './helpers/db.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let database: Database;
const config = () => loadConfig({ DATABASE_URL: db.url, ATP_STATEMENT_TIMEOUT_MS: '3000', ATP_DB_CONNECT_TIMEOUT_MS: '500', ATP_DB_POOL_MAX: '3' });

beforeAll(async () => {
  db = await createTestDatabase();
  database = await openDatabase(config());
  // an open connection first: the bound (6.5 s) must fire before Postgres ends the idle
  // transaction (idle_in_transaction_session_timeout = 3 × statement_timeout = 9 s)
  await query(database.db, sql`select 1`);
});
afterAll(async () => {
  await database?.close();
  await db?.drop();
});

it('a transaction that never settles is abandoned: ATP_TRANSACTION_STALLED, mapped to 503 timeout with Retry-After; the pool serves on', async () => {
  expect(transactionBoundMs(config())).toBe(6500);
  const err = await database.db
    .transaction(async (tx) => {
      await tx.execute(sql`select 1`);
      await new Promise(() => {});
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(err).toMatchObject({ code: 'ATP_TRANSACTION_STALLED' });
  const mapped = mapDatabaseError(err)!;
  expect({ status: statusOf(mapped), code: mapped.code, retryAfter: mapped.retryAfter }).toEqual({ status: 503, code: 'timeout', retryAfter: 1 });
  // a normal transaction still commits, plain statements still run
  const [row] = await database.db.transaction(async (tx) => query<{ n: number }>(tx, sql`select 41 + 1 as n`));
  expect(row!.n).toBe(42);
  expect((await query<{ one: number }>(database.db, sql`select 1 as one`))[0]!.one).toBe(1);
});
