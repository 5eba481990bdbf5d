/** Applies the committed drizzle-kit migrations in `drizzle/` (idempotent; run at every start). */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Database } from './client.js';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
const MIGRATION_LOCK = 724_113_001; // advisory lock id: several instances starting at once migrate one at a time

/**
 * Postgres: runs on one dedicated connection holding a session advisory lock, so instances that
 * start together do not race on DDL. PGlite: a single connection already.
 */
export async function migrateDatabase(database: Database, databaseUrl?: string): Promise<void> {
  const opts = { migrationsFolder: MIGRATIONS_DIR };
  if (database.mode === 'postgres') {
    if (!databaseUrl) throw new Error('migrateDatabase: databaseUrl is required in postgres mode');
    const { default: postgres } = await import('postgres');
    const { drizzle } = await import('drizzle-orm/postgres-js');
    const { migrate } = await import('drizzle-orm/postgres-js/migrator');
    const client = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    try {
      await client`select pg_advisory_lock(${MIGRATION_LOCK})`;
      await migrate(drizzle({ client }), opts);
      await client`select pg_advisory_unlock(${MIGRATION_LOCK})`;
    } finally {
      await client.end({ timeout: 5 });
    }
  } else {
    const { migrate } = await import('drizzle-orm/pglite/migrator');
    await migrate(database.db as never, opts);
  }
}
