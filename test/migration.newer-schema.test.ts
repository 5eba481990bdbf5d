/**
 * An old instance refuses a newer schema: once the database records a migration this version's
 * drizzle/ journal does not have (a newer release migrated it), starting the service fails with
 * SchemaTooNew and writes nothing; the same database with only known migrations starts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { MIGRATIONS_DIR, SchemaTooNew } from '../src/db/migrate.js';
import { createService } from '../src/service.js';
import { createTestDatabase } from './helpers/db.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pg: postgres.Sql;
const config = () => loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent' });
const last = (JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as { entries: { when: number }[] }).entries.at(-1)!;

beforeAll(async () => {
  db = await createTestDatabase();
  pg = postgres(db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await pg?.end();
  await db?.drop();
});

it('starts on the schema it knows, and refuses one a newer release migrated', async () => {
  const svc = await createService(config(), { sweeper: false, relay: false });
  await svc.stop();
  // what a newer release leaves: one more migration, made after this version's last
  await pg`insert into drizzle.__drizzle_migrations (hash, created_at) values ('from-a-newer-release', ${last.when + 1})`;
  const before = await pg`select (select count(*) from outbox)::int as outbox, (select count(*) from ledger)::int as ledger`;
  await expect(createService(config(), { sweeper: false, relay: false })).rejects.toThrow(SchemaTooNew);
  expect(await pg`select (select count(*) from outbox)::int as outbox, (select count(*) from ledger)::int as ledger`).toEqual(before);
  // gone again (a rollback of the newer release): this version starts
  await pg`delete from drizzle.__drizzle_migrations where hash = 'from-a-newer-release'`;
  const again = await createService(config(), { sweeper: false, relay: false });
  await again.stop();
});
