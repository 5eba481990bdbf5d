/** Applies the committed drizzle-kit migrations in `drizzle/` (idempotent; run at every start). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { type Database, query } from './client.js';

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../drizzle');
const MIGRATION_LOCK = 724_113_001; // advisory lock id: several instances starting at once migrate one at a time

/**
 * Postgres: runs on one dedicated connection holding a session advisory lock, so instances that
 * start together do not race on DDL. PGlite: a single connection already.
 */
export async function migrateDatabase(database: Database, databaseUrl?: string): Promise<void> {
  await applyMigrations(database, databaseUrl);
  await refuseNewerSchema(database);
}

/** A database migrated by a newer version of the service than this one: this version must not run on it. */
export class SchemaTooNew extends Error {
  override name = 'SchemaTooNew';
}

/**
 * Throws SchemaTooNew when the database has a migration applied that this version does not know
 * (its drizzle/ journal ends earlier): an old instance started after an upgrade would write rows
 * the new schema does not expect (docs/OPERATIONS.md, "Upgrading").
 */
export async function refuseNewerSchema(database: Database): Promise<void> {
  const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as { entries: { tag: string; when: number }[] };
  const known = journal.entries[journal.entries.length - 1]!;
  const [row] = await query<{ applied: string | null; n: number }>(
    database.db,
    sql`select max(created_at)::text as applied, count(*)::int as n from drizzle.__drizzle_migrations`,
  );
  const applied = Number(row?.applied ?? 0);
  if (applied > known.when)
    throw new SchemaTooNew(
      `the database's schema is newer than this version of the service: its last migration was made at ${new Date(applied).toISOString()}, ` +
        `this version knows migrations up to ${known.tag} (${new Date(known.when).toISOString()}); run the newer version (see docs/OPERATIONS.md, Upgrading)`,
    );
}

async function applyMigrations(database: Database, databaseUrl?: string): Promise<void> {
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
