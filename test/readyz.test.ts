/**
 * /healthz and /readyz with reasons: ready on a migrated database; 503 when a migration from the
 * drizzle journal is missing, when Postgres cannot be reached (its database dropped under it) and
 * while draining for shutdown (responses then also carry `Connection: close`); 200 `degraded`
 * when the rules are stale or, with a publisher (REDIS_URL), the outbox lags. Without a publisher
 * readiness ignores unpublished rows however old (nothing would ever publish them) and the
 * `events` check says `disabled`. X-Request-Id is echoed (or generated).
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { MemoryRulesStore, type RulesStatus } from '../src/rules/store.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

/** the in-process store, reporting that its backing store has been unreachable for 42 s */
class StaleRules extends MemoryRulesStore {
  stale = false;
  override status(): RulesStatus {
    return this.stale ? { source: 'redis', version: 7, state: 'degraded', ageSeconds: 42, loaded: true } : super.status();
  }
}

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const rules = new StaleRules();

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2', ATP_READY_OUTBOX_LAG_S: '30' }), { sweeper: false, rules });
});
afterAll(async () => {
  await svc?.stop();
  await db?.drop();
});

type Body = { status: string; checks: Record<string, { ok: boolean; state: string; reason?: string }> };
const readyz = async (s: Service = svc) => {
  const res = await client(s.app).raw('/readyz');
  return { status: res.status, body: (await res.json()) as Body, connection: res.headers.get('connection') };
};

it('/healthz answers without any key or dependency; X-Request-Id is echoed or generated', async () => {
  const res = await client(svc.app).raw('/healthz', { headers: { 'x-request-id': 'probe-123' } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
  expect(res.headers.get('x-request-id')).toBe('probe-123');
  const gen = await client(svc.app).raw('/healthz');
  expect(gen.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
});

it('ready on a migrated database, with every check in the body', async () => {
  const r = await readyz();
  expect(r.status).toBe(200);
  expect(r.body.status).toBe('ready');
  const migrations = (await readdir(new URL('../drizzle/', import.meta.url))).filter((f) => f.endsWith('.sql')).length;
  expect(r.body.checks.database).toMatchObject({ ok: true, state: 'up', migrationsApplied: migrations, migrationsExpected: migrations });
  expect(r.body.checks.rules).toMatchObject({ ok: true, state: 'fresh' });
  expect(r.body.checks.events).toMatchObject({ ok: true, state: 'disabled' });
  expect(r.body.checks.outbox).toBeUndefined();
  expect(r.body.checks.lifecycle).toMatchObject({ ok: true, state: 'serving' });
});

it('without Redis, an outbox row older than the lag limit does not degrade readiness: there is no publisher', async () => {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    expect((await svc.app.request('/v1/inventory/RDY/DC1', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"onHand":1}' })).status).toBe(200);
    await sql`update outbox o set created_at = now() - interval '10 minutes' where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c)`;
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ready');
    expect(r.body.checks.events).toMatchObject({ ok: true, state: 'disabled' });
    expect(r.body.checks.events!.reason).toMatch(/REDIS_URL/);
  } finally {
    await sql.end();
  }
});

it('degraded (still 200) when the rules are stale or the outbox lags, with the reason', async () => {
  rules.stale = true;
  try {
    const r = await readyz();
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('degraded');
    expect(r.body.checks.rules).toMatchObject({ ok: true, state: 'degraded' });
    expect(r.body.checks.rules!.reason).toContain('version 7');
  } finally {
    rules.stale = false;
  }
  // the outbox lags only when something publishes it: a service with the relay (shared Redis, own stream)
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const stream = `test:atp-readyz:${randomBytes(6).toString('hex')}`;
  const published = await createService(
    loadConfig({ DATABASE_URL: db.url, REDIS_URL: redisUrl, ATP_EVENTS_STREAM: stream, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2', ATP_READY_OUTBOX_LAG_S: '30' }),
    { sweeper: false, rules: new MemoryRulesStore() },
  );
  try {
    published.telemetry.setOutboxLagSource(() => 95);
    const r = await readyz(published);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('degraded');
    expect(r.body.checks.outbox).toMatchObject({ ok: true, state: 'lagging', lagSeconds: 95 });
    expect(r.body.checks.outbox!.reason).toContain('limit 30 s');
    expect(r.body.checks.events).toMatchObject({ ok: true });
    expect(['publishing', 'failing', 'stopped']).toContain(r.body.checks.events!.state);
    published.telemetry.setOutboxLagSource(() => 0);
    expect((await readyz(published)).body.status).toBe('ready');
  } finally {
    await published.stop();
    const redis = new Redis(redisUrl);
    await redis.del(stream);
    redis.disconnect();
  }
});

it('503 while draining, and responses ask clients to close the connection', async () => {
  svc.lifecycle.draining = true;
  try {
    const r = await readyz();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not-ready');
    expect(r.body.checks.lifecycle).toMatchObject({ ok: false, state: 'draining' });
    expect(r.connection).toBe('close');
  } finally {
    svc.lifecycle.draining = false;
  }
  expect((await readyz()).connection).toBeNull();
});

it('503 naming the migration when one in the journal is not applied', async () => {
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const [saved] = await sql`select id, hash, created_at from drizzle.__drizzle_migrations order by id limit 1`;
    await sql`delete from drizzle.__drizzle_migrations where id = ${saved!.id}`;
    try {
      const r = await readyz();
      expect(r.status).toBe(503);
      expect(r.body.checks.database).toMatchObject({ ok: false, state: 'unmigrated' });
      expect(r.body.checks.database!.reason).toContain('0000_init');
    } finally {
      await sql`insert into drizzle.__drizzle_migrations (id, hash, created_at) values (${saved!.id}, ${saved!.hash}, ${saved!.created_at})`;
    }
    expect((await readyz()).status).toBe(200);
  } finally {
    await sql.end();
  }
});

it('503 with the reason when Postgres cannot be reached', async () => {
  const other = await createTestDatabase();
  const s = await createService(loadConfig({ DATABASE_URL: other.url, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2' }), { sweeper: false });
  try {
    expect((await readyz(s)).status).toBe(200);
    await other.drop(); // terminates its connections; new ones fail: the database no longer exists
    const r = await readyz(s);
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not-ready');
    expect(r.body.checks.database).toMatchObject({ ok: false, state: 'unreachable' });
    expect(r.body.checks.database!.reason).toMatch(/^Postgres check failed: /);
  } finally {
    await s.stop().catch(() => {});
  }
});
