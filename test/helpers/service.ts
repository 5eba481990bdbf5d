/**
 * The usual fixture of a database test file: a fresh Postgres database, a service on it (no
 * sweeper: tests sweep explicitly), an in-process API client and a direct SQL connection — all
 * torn down after the file. Use the returned object's fields inside tests (they are set in
 * beforeAll).
 */
import postgres from 'postgres';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createService, type Service, type ServiceOptions } from '../../src/service.js';
import { client, type Client } from './api.js';
import { createTestDatabase } from './db.js';

export interface ServiceFixture {
  svc: Service;
  db: Awaited<ReturnType<typeof createTestDatabase>>;
  api: Client;
  sql: postgres.Sql;
}

/** `opts` go to createService (e.g. `clock`: a test clock, test/helpers/clock.ts). */
export function serviceFixture(env: Record<string, string> = {}, opts: Omit<ServiceOptions, 'sweeper'> = {}): ServiceFixture {
  const t = {} as ServiceFixture;
  beforeAll(async () => {
    t.db = await createTestDatabase();
    t.svc = await createService(loadConfig({ DATABASE_URL: t.db.url, LOG_LEVEL: 'silent', ...env }), { ...opts, sweeper: false });
    t.api = client(t.svc.app);
    t.sql = postgres(t.db.url, { max: 2, onnotice: () => {} });
  });
  afterAll(async () => {
    await t.sql?.end();
    await t.svc?.stop();
    await t.db?.drop();
  });
  return t;
}
