/** Migrating a test database to a given point of drizzle/ (the tests of data migrations start from an older schema). */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import type postgres from 'postgres';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';

/** Apply the committed migrations up to and including index `last` (all of them when undefined). */
export async function migrateTo(sql: postgres.Sql, last?: number): Promise<void> {
  if (last === undefined) return migrate(drizzle({ client: sql }), { migrationsFolder: MIGRATIONS_DIR });
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-mig-'));
  try {
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const journalPath = path.join(dir, 'meta/_journal.json');
    const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number }[] };
    journal.entries = journal.entries.filter((e) => e.idx <= last);
    writeFileSync(journalPath, JSON.stringify(journal));
    await migrate(drizzle({ client: sql }), { migrationsFolder: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
