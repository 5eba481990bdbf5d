/**
 * The rules are durable in every mode (issue 16 item 2). Invariant: Postgres is the one authority
 * for the channel rules — every acknowledged PUT survives a restart of the service and of a Redis
 * started without persistence, and versions never repeat or go back:
 * - Postgres without Redis: a restarted service enforces the last version and the next PUT
 *   continues the numbering; two instances racing with one If-Match give exactly one 200, and the
 *   other instance applies the winner (its periodic re-read);
 * - embedded PGlite: the same across a restart on one data directory, and concurrent PUTs with
 *   one If-Match give exactly one 200;
 * - with Redis (private, no persistence): after Redis restarts empty the instance writes the
 *   Postgres version back; a service started while Redis is empty enforces the Postgres version;
 * - upgrade: rules that lived only in Redis are adopted as the first stored version;
 * - a stored version that fails validation is never enforced (a new instance is not ready).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { drizzle } from 'drizzle-orm/postgres-js';
import type { Db } from '../src/db/client.js';
import type { RulesDocument, RulesInput } from '../src/contract/rules.js';
import { adoptRules, insertRules, latestRules } from '../src/rules/versions.js';
import { whileLocked } from './helpers/locks.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { PrivateRedis } from './helpers/redis-server.js';

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function database() {
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  return db;
}

async function start(env: Record<string, string>): Promise<Service> {
  const s = await createService(loadConfig({ LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '3', ...env }), { sweeper: false, relay: false });
  cleanup.push(() => s.stop());
  return s;
}

async function put(s: Service, body: unknown, ifMatch?: string) {
  const r = await client(s.app).raw('/v1/rules', { method: 'PUT', headers: { 'content-type': 'application/json', ...(ifMatch ? { 'if-match': ifMatch } : {}) }, body: JSON.stringify(body) });
  return { status: r.status, etag: r.headers.get('etag'), body: (await r.json()) as Record<string, unknown> };
}

async function get(s: Service) {
  const r = await client(s.app).raw('/v1/rules');
  return { etag: r.headers.get('etag'), body: (await r.json()) as Record<string, unknown> };
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 10_000) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function storedVersions(url: string): Promise<number[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return (await sql<{ version: number }[]>`select version from rules order by version`).map((r) => r.version);
  } finally {
    await sql.end();
  }
}

it('Postgres without Redis: rules survive a restart, versions continue; concurrent PUTs with one If-Match: exactly one wins, the other instance applies it', async () => {
  const db = await database();
  const env = { DATABASE_URL: db.url, ATP_RULES_POLL_MS: '100' };
  const first = await start(env);
  expect((await put(first, { channels: { mkt: { tier: 3, maxUnits: 5 } } }, '"0"')).etag).toBe('"1"');
  expect((await put(first, { channels: { mkt: { tier: 2 } }, protect: { '1': 7 } }, '"1"')).etag).toBe('"2"');
  await first.stop();

  const a = await start(env);
  const b = await start(env);
  for (const s of [a, b]) expect(await get(s)).toMatchObject({ etag: '"2"', body: { version: 2, channels: { mkt: { tier: 2 } }, protect: { '1': 7 } } });
  expect((await put(a, { defaultTier: 1 }, '"0"')).status).toBe(412);

  const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => put(i % 2 ? a : b, { defaultTier: 1 + (i % 3) }, '"2"')));
  expect(racing.map((r) => r.status).sort()).toEqual([200, 412, 412, 412, 412, 412]);
  expect(racing.filter((r) => r.status === 412).every((r) => r.body.code === 'precondition-failed' && r.body.currentVersion === 3)).toBe(true);
  const winner = racing.find((r) => r.status === 200)!.body;
  expect(winner.version).toBe(3);
  await waitFor('both instances enforce the winner', () => a.rules.current().defaultTier === winner.defaultTier && b.rules.current().defaultTier === winner.defaultTier);
  expect(await storedVersions(db.url)).toEqual([1, 2, 3]);
});

it('embedded PGlite: rules survive a restart on the same data directory, versions continue', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'atp-rules-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const env = { ATP_DATA_DIR: dir };
  const first = await start(env);
  expect(first.database.mode).toBe('pglite');
  expect((await put(first, { channels: { b2b: { tier: 1 } } })).etag).toBe('"1"');
  await first.stop();
  const again = await start(env);
  expect(await get(again)).toMatchObject({ etag: '"1"', body: { version: 1, channels: { b2b: { tier: 1 } } } });
  expect((await put(again, { defaultTier: 2 }, '"0"')).status).toBe(412);
  expect((await put(again, { defaultTier: 2 }, '"1"')).etag).toBe('"2"');
  const racing = await Promise.all(Array.from({ length: 4 }, (_, i) => put(again, { defaultTier: 1 + (i % 3) }, '"2"')));
  expect(racing.map((r) => r.status).sort()).toEqual([200, 412, 412, 412]);
  expect(again.rules.current().version).toBe(3);
  await again.stop();
});

it('Redis without persistence: restarted empty, the Postgres version is written back; a service started on an empty Redis enforces the Postgres version', async () => {
  const db = await database();
  const redis = await PrivateRedis.start();
  cleanup.push(() => redis.kill());
  const key = `atp:test:rules:${randomBytes(6).toString('hex')}`;
  const env = { DATABASE_URL: db.url, REDIS_URL: redis.url, ATP_RULES_KEY: key, ATP_RULES_POLL_MS: '100' };
  const r = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
  r.on('error', () => {});
  cleanup.push(() => r.disconnect());

  const s1 = await start(env);
  expect((await put(s1, { channels: { mkt: { maxUnits: 1 } } }, '"0"')).etag).toBe('"1"');
  expect((await put(s1, { channels: { mkt: { maxUnits: 2 } } }, '"1"')).etag).toBe('"2"');
  await redis.kill();
  await redis.start();
  await r.connect();
  await waitFor('the instance writes version 2 back into the empty Redis', async () => (await r.hget(key, 'version')) === '2');
  expect(JSON.parse((await r.hget(key, 'doc'))!)).toMatchObject({ channels: { mkt: { maxUnits: 2 } } });
  await s1.stop();

  // Redis loses everything again while no service runs
  r.disconnect();
  await redis.kill();
  await redis.start();
  const s2 = await start(env);
  expect(await get(s2)).toMatchObject({ etag: '"2"', body: { channels: { mkt: { maxUnits: 2 } } } });
  await r.connect();
  await waitFor('written back by the new instance', async () => (await r.hget(key, 'version')) === '2');
  expect((await put(s2, { channels: {} }, '"2"')).etag).toBe('"3"');
  expect(await r.hget(key, 'version')).toBe('3');
  expect(await storedVersions(db.url)).toEqual([1, 2, 3]);
});

it('upgrade: rules that lived only in Redis are adopted as the first version stored in Postgres', async () => {
  const db = await database();
  const key = `atp:test:rules:${randomBytes(6).toString('hex')}`;
  const shared = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const r = new Redis(shared, { maxRetriesPerRequest: 1 });
  cleanup.push(() => r.disconnect());
  cleanup.push(() => r.del(key));
  await r.hset(key, 'version', '7', 'doc', JSON.stringify({ defaultTier: 2, channels: { web: { tier: 1 } }, protect: {}, skus: {} }), 'updatedAt', '2026-01-01T00:00:00.000Z');
  const s = await start({ DATABASE_URL: db.url, REDIS_URL: shared, ATP_RULES_KEY: key });
  await waitFor('adopted', () => s.rules.current().version === 7);
  expect(s.rules.current()).toMatchObject({ defaultTier: 2, channels: { web: { tier: 1 } } });
  expect(await storedVersions(db.url)).toEqual([7]);
  expect((await put(s, { defaultTier: 3 }, '"7"')).etag).toBe('"8"');
});

it('upgrade racing the first PUT: the adopted Redis rules never outrank the operator\'s PUT (both wait for one lock, then run at once)', async () => {
  const db = await database();
  // a migrated, empty rules table (a service start applies the migrations)
  await (await start({ DATABASE_URL: db.url })).stop();
  const pool = postgres(db.url, { max: 4, onnotice: () => {} });
  cleanup.push(() => pool.end());
  const d = drizzle({ client: pool }) as unknown as Db;
  const fromRedis = { version: 7, defaultTier: 2, channels: { web: { tier: 1 } }, protect: {}, skus: {} } as RulesDocument;
  const mine = { defaultTier: 3, channels: { app: { tier: 1 } }, protect: {}, skus: {} } as RulesInput;
  // a raw SHARE lock holds both writers before their statements take a snapshot; released once both wait
  const [, put] = (await whileLocked<boolean | RulesDocument>(pool, db.url, 'lock table rules in share mode', [], 2, () => [adoptRules(d, fromRedis), insertRules(d, mine, undefined, 'operator')])) as [boolean, RulesDocument];
  const latest = await latestRules(d);
  expect(latest?.version).toBe(put.version);
  expect(latest?.doc).toMatchObject(mine);
});

it('a stored version that is not a valid document (edited by hand) is never enforced: a running instance keeps its version, a new one is not ready until a PUT', async () => {
  const db = await database();
  const env = { DATABASE_URL: db.url, ATP_RULES_POLL_MS: '100' };
  const s = await start(env);
  expect((await put(s, { defaultTier: 2 }, '"0"')).etag).toBe('"1"');
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await sql`insert into rules (version, doc) values (2, ${sql.json({ defaultTier: 99 })})`;
  } finally {
    await sql.end();
  }
  const fresh = await start(env);
  const ready = await client(fresh.app).raw('/readyz');
  expect(ready.status).toBe(503);
  expect(((await ready.json()) as { checks: { rules: { state: string; reason: string } } }).checks.rules).toMatchObject({ state: 'unloaded', reason: expect.stringMatching(/rules version 2 in Postgres is not a valid rules document \(defaultTier/) });
  expect(s.rules.current()).toMatchObject({ version: 1, defaultTier: 2 });
  // the new instance does not allocate under the defaults meanwhile: a retry-safe 503, nothing written
  const api = client(fresh.app);
  expect((await api.setStock('BAD-RULES', 'DC1', 5)).status).toBe(200);
  const refused = await api.reserve({ orderRef: 'o-bad-rules', channel: 'web', lines: [{ sku: 'BAD-RULES', qty: 1 }] });
  expect(refused.status).toBe(503);
  expect(refused.body).toMatchObject({ code: 'rules-unavailable' });
  expect((await api.atp(['BAD-RULES'])).body.skus[0]).toMatchObject({ reserved: 0 });
  // the operator stores a valid version over it
  expect((await put(fresh, { defaultTier: 1 }, '"2"')).etag).toBe('"3"');
  expect((await client(fresh.app).raw('/readyz')).status).toBe(200);
  await waitFor('the running instance applies version 3', () => s.rules.current().version === 3);
});
