/**
 * Database handle for both modes: a postgres.js pool (DATABASE_URL set) or embedded PGlite
 * (the zero-configuration default). Everything above this file sees one drizzle `Db`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { Sql } from 'postgres';
import type { Config } from '../config.js';
import { lockDataDir } from './data-dir-lock.js';
import { Generations, type Replacement } from './generations.js';
import { watchReadOnly } from './read-only-watch.js';

export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
export type Tx = PgTransaction<PgQueryResultHKT, Record<string, never>>;
/** Either the pool or a transaction: anything that runs a statement. */
export type Exec = Pick<Db, 'execute'>;
/** Either the pool or a transaction, for a read through drizzle's query builder (admin and catalog reads). */
export type Reader = Pick<Db, 'select'>;

export interface Database {
  db: Db;
  /**
   * One statement on the read path's pool (ATP_READ_POOL_MAX connections to the same primary:
   * reads never wait for a connection behind write batches), as a named prepared statement (planned
   * once per connection). PGlite: the one connection.
   */
  readStatement: ReadStatement;
  /** read statements that can usefully run at once (the read pool's size) */
  readConcurrency: number;
  mode: 'postgres' | 'pglite';
  /** the largest number of transactions that can usefully run at once */
  concurrency: number;
  close(): Promise<void>;
}

/** A fixed statement text with $n parameters → its rows (json columns parsed). */
export type ReadStatement = (text: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** Run one raw statement and return its rows, whichever driver is underneath. */
export async function query<T>(exec: Exec, statement: SQL): Promise<T[]> {
  const result = (await exec.execute(statement)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/** A transaction that has not settled by then is abandoned (see boundTransactions). */
export const transactionBoundMs = (config: Pick<Config, 'ATP_STATEMENT_TIMEOUT_MS' | 'ATP_DB_CONNECT_TIMEOUT_MS'>) => 2 * config.ATP_STATEMENT_TIMEOUT_MS + config.ATP_DB_CONNECT_TIMEOUT_MS;

/** The code of the error a transaction abandoned by its bound rejects with (db/errors.ts: 503). */
export const TRANSACTION_STALLED = 'ATP_TRANSACTION_STALLED';

/**
 * Every transaction of the pool (drizzle's `db.transaction` is postgres.js `begin`) settles within
 * `boundMs` of getting its connection, or is abandoned: its promise rejects with code TRANSACTION_STALLED, so the caller (an
 * allocation batch, a relay pass, a verb) answers 503 and frees its slot. Why: postgres.js 3.4.9
 * can lose a query's promise with its socket during a failover (driver-guard.ts), and a promise
 * that never settles wedged the allocator for good in the failover rounds (every in-flight batch
 * stuck, every new reservation shed with 429). Server-side timeouts cannot see a lost promise.
 *
 * Contract: abandoning does not cancel. A transaction that was only slow may still COMMIT later;
 * its caller was told 503, and the client's retry with the same Idempotency-Key finds the
 * outcome (a replay) — the same unknown-outcome case as a lost connection. A stalled transaction
 * keeps its connection until Postgres ends the session (idle_in_transaction_session_timeout,
 * 3 × statement_timeout) or the socket closes.
 */
export function boundTransactions(client: { begin: (...args: never[]) => Promise<unknown> }, boundMs: number): void {
  const begin = client.begin.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as { begin: (...args: unknown[]) => Promise<unknown> }).begin = (...args: unknown[]) => {
    let timer: NodeJS.Timeout | undefined;
    let stall: (err: Error) => void = () => {};
    const stalled = new Promise<never>((_, reject) => (stall = reject));
    // armed once the transaction has its connection (BEGIN done): waiting for a free connection of
    // a busy pool is not a stall
    const fn = args[args.length - 1] as (sql: unknown) => unknown;
    const armed = (sql: unknown) => {
      timer = setTimeout(() => stall(Object.assign(new Error(`the transaction did not finish within ${boundMs} ms (connection lost or stalled)`), { code: TRANSACTION_STALLED })), boundMs);
      return fn(sql);
    };
    const work = begin(...args.slice(0, -1), armed);
    // the abandoned work's own rejection, if it ever comes, is nobody's concern any more
    work.catch(() => {});
    return Promise.race([work, stalled]).finally(() => clearTimeout(timer));
  };
}

/**
 * A Db that runs everything on `get()`'s Db at the moment of each call (db.transaction,
 * db.execute, db.select …): the pools behind it can be replaced while callers keep this one
 * object. A call already made stays on the Db it started on. Concurrency: as the Db it forwards
 * to. Errors: those of the forwarded call.
 */
export function currentDb(get: () => Db): Db {
  return new Proxy({} as Db, {
    get(_, prop) {
      const db = get();
      const value = Reflect.get(db, prop, db) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(db) : value;
    },
  });
}

/** What openDatabase reports besides the handle. */
export interface OpenOptions {
  /** the pools were replaced (a connection answered 25006: generations.ts) */
  onPoolReplaced?: (r: Replacement) => void;
  /** at most one pool replacement per this many ms (default 1000) */
  replaceMinIntervalMs?: number;
  /** time source of that bound (tests); default Date.now */
  now?: () => number;
}

/**
 * Open the database of `config`: postgres.js pools when DATABASE_URL is set, else embedded PGlite.
 * Postgres: the write and read pools form one replaceable generation (generations.ts); a statement
 * of either pool that fails with 25006 replaces both, so connections left on a hot standby by the
 * driver are dropped and the next statement connects to the primary afresh. `db` and
 * `readStatement` always use the current generation. Concurrency: every member may be used from
 * any number of requests at once. Errors: PGlite — DataDirLocked when another process holds the
 * data directory; Postgres — nothing at open (connections open on first use; statements reject
 * with the driver's errors, mapped by db/errors.ts).
 */
export async function openDatabase(config: Config, open: OpenOptions = {}): Promise<Database> {
  if (config.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const options = (max: number, application_name: string) => ({
      max,
      // seconds (fractions allowed): per host tried, so a dead host of a multi-host URL costs this once
      connect_timeout: config.ATP_DB_CONNECT_TIMEOUT_MS / 1000,
      // Reconnect delay after a failed connection. The driver's default grows to 10–20 s once the
      // database has been down for a few attempts, and queued queries wait that long before they
      // even try (requests answered 503 only after ~25 s; recovery after a restart as slow).
      // Capped at 1 s, a request fails over to 503 promptly while the database is gone and the
      // pool is back within a second of its return; 8–20 connect attempts/s hurt no one.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2),
      idle_timeout: 60,
      onnotice: () => {},
      connection: {
        application_name,
        lock_timeout: config.ATP_LOCK_TIMEOUT_MS,
        statement_timeout: config.ATP_STATEMENT_TIMEOUT_MS,
        idle_in_transaction_session_timeout: config.ATP_STATEMENT_TIMEOUT_MS * 3,
      },
      types: { bigint: postgres.BigInt },
    });
    const url = config.DATABASE_URL;
    const pools: Generations<{ db: Db; client: Sql<{ bigint: bigint }>; readClient: Sql<{ bigint: bigint }> }> = new Generations({
      open: (generation) => {
        const client = postgres(url, options(config.ATP_DB_POOL_MAX, 'atp-service'));
        const readClient = postgres(url, options(config.ATP_READ_POOL_MAX, 'atp-service-reads'));
        const readOnly = () => pools.replace(generation, 'a statement failed with 25006 (read-only node)');
        watchReadOnly(client, readOnly);
        watchReadOnly(readClient, readOnly);
        boundTransactions(client, transactionBoundMs(config));
        return { db: drizzle({ client }) as unknown as Db, client, readClient };
      },
      // Statements in flight may finish for 5 s, then their connections are destroyed (they
      // fail as connection losses: 503, the retry finds the outcome by its Idempotency-Key). A
      // request has had its answer by then (ATP_REQUEST_DEADLINE_MS, 5 s by default), and a
      // shutdown waits no longer for a replaced generation than for the current one.
      end: async ({ client, readClient }) => {
        await Promise.all([client.end({ timeout: 5 }), readClient.end({ timeout: 5 })]);
      },
      minIntervalMs: open.replaceMinIntervalMs ?? 1000,
      now: open.now,
      onReplace: open.onPoolReplaced,
    });
    return {
      db: currentDb(() => pools.current.db),
      readStatement: (text, params) => pools.current.readClient.unsafe(text, params as never[], { prepare: true }) as unknown as Promise<Record<string, unknown>[]>,
      readConcurrency: config.ATP_READ_POOL_MAX,
      mode: 'postgres',
      concurrency: config.ATP_DB_POOL_MAX,
      close: () => pools.close(),
    };
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const { drizzle } = await import('drizzle-orm/pglite');
  // one process per data directory: a second one refuses to start (DataDirLocked)
  const lock = lockDataDir(config.ATP_DATA_DIR);
  try {
    const dir = path.resolve(config.ATP_DATA_DIR, 'pglite');
    mkdirSync(dir, { recursive: true });
    const client = await PGlite.create(dir);
    const db = drizzle({ client }) as unknown as Db;
    const close = async () => {
      try {
        await client.close();
      } finally {
        lock.release();
      }
    };
    const readStatement: ReadStatement = async (text, params) => (await client.query<Record<string, unknown>>(text, params as unknown[])).rows;
    return { db, readStatement, readConcurrency: 1, mode: 'pglite', concurrency: 1, close };
  } catch (err) {
    lock.release();
    throw err;
  }
}
