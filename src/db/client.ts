/**
 * Database handle for both modes: a postgres.js pool (DATABASE_URL set) or embedded PGlite
 * (the zero-configuration default). Everything above this file sees one drizzle `Db`.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import type { Config } from '../config.js';
import { lockDataDir } from './data-dir-lock.js';

export type Db = PgDatabase<PgQueryResultHKT, Record<string, never>>;
export type Tx = PgTransaction<PgQueryResultHKT, Record<string, never>>;
/** Either the pool or a transaction: anything that runs a statement. */
export type Exec = Pick<Db, 'execute'>;

export interface Database {
  db: Db;
  mode: 'postgres' | 'pglite';
  /** the largest number of transactions that can usefully run at once */
  concurrency: number;
  close(): Promise<void>;
}

/** Run one raw statement and return its rows, whichever driver is underneath. */
export async function query<T>(exec: Exec, statement: SQL): Promise<T[]> {
  const result = (await exec.execute(statement)) as unknown;
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

export async function openDatabase(config: Config): Promise<Database> {
  if (config.DATABASE_URL) {
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const client = postgres(config.DATABASE_URL, {
      max: config.ATP_DB_POOL_MAX,
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
        application_name: 'atp-service',
        lock_timeout: config.ATP_LOCK_TIMEOUT_MS,
        statement_timeout: config.ATP_STATEMENT_TIMEOUT_MS,
        idle_in_transaction_session_timeout: config.ATP_STATEMENT_TIMEOUT_MS * 3,
      },
      types: { bigint: postgres.BigInt },
    });
    const db = drizzle({ client }) as unknown as Db;
    return {
      db,
      mode: 'postgres',
      concurrency: config.ATP_DB_POOL_MAX,
      close: () => client.end({ timeout: 5 }),
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
    return { db, mode: 'pglite', concurrency: 1, close };
  } catch (err) {
    lock.release();
    throw err;
  }
}
