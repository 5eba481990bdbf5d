/** /healthz (process up) and /readyz (database reachable and migrated; rules fresh or degraded, with their version and age). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { query } from '../../db/client.js';
import { MIGRATIONS_DIR } from '../../db/migrate.js';
import type { AppDeps, Router } from '../context.js';

const expectedMigrations = (): number =>
  (JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

export function opsRoutes(app: Router, deps: AppDeps) {
  const expected = expectedMigrations();

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const checks: Record<string, { ok: boolean; [k: string]: unknown }> = {};
    try {
      const [row] = await query<{ n: number }>(deps.database.db, sql`select count(*)::int as n from drizzle.__drizzle_migrations`);
      const applied = row?.n ?? 0;
      checks.database = { ok: applied >= expected, mode: deps.database.mode, migrationsApplied: applied, migrationsExpected: expected };
    } catch (err) {
      checks.database = { ok: false, mode: deps.database.mode, reason: (err as Error).message };
    }
    // Rules served from the last good copy while Redis is unreachable are degraded, not unready:
    // every instance keeps enforcing the version it has, by design, so readiness stays 200. Only an
    // instance that has never loaded the rules (it would enforce the defaults) is not ready.
    const rules = deps.rules.status();
    checks.rules = { ok: rules.loaded, ...rules };
    checks.allocator = { ok: true, ...deps.allocator.depth };
    // events: a Redis outage does not make the service unready (events wait in the outbox); the lag says how far behind
    if (deps.relay) {
      try {
        checks.events = { ok: true, ...deps.relay.status(), ...(await deps.relay.lag()) };
      } catch (err) {
        checks.events = { ok: true, ...deps.relay.status(), lagError: (err as Error).message };
      }
    }
    const ready = Object.values(checks).every((x) => x.ok);
    return c.json({ status: ready ? (rules.state === 'fresh' ? 'ready' : 'degraded') : 'not-ready', checks }, ready ? 200 : 503);
  });
}
