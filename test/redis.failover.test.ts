/**
 * A Redis master replaced under a RUNNING service (the stand-in for a Sentinel failover to a
 * replica that had not received the last writes): a private redis-server is killed and started
 * again, empty, on the same port, and given back only the first half of the event stream (what a
 * lagging replica holds) and no rules key. Without restarting the service or its relay:
 * - the relay, on its reconnect, resumes from the last entry present on the new master: the
 *   stream becomes exactly what it was (same ids, same entries, in order) and then the new events,
 *   every outbox event exactly once;
 * - the rules are re-published from Postgres onto the new master (same version, same document).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { PrivateRedis } from './helpers/redis-server.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let server: PrivateRedis;
let svc: Service;
let redis: Redis;
let pg: postgres.Sql;
const stream = `atp:test:failover:${randomBytes(6).toString('hex')}`;
const rulesKey = `atp:test:failover-rules:${randomBytes(6).toString('hex')}`;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await PrivateRedis.start();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, REDIS_URL: server.url, ATP_EVENTS_STREAM: stream, ATP_RULES_KEY: rulesKey, ATP_RULES_POLL_MS: '100', ATP_DB_POOL_MAX: '6', LOG_LEVEL: 'silent' }),
    { sweeper: false },
  );
  redis = new Redis(server.url, { maxRetriesPerRequest: 1, retryStrategy: (n) => Math.min(n * 50, 500) });
  redis.on('error', () => {});
  pg = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  redis?.disconnect();
  await pg?.end();
  await svc?.stop();
  await server?.kill();
  await db?.drop();
});

/**
 * Wait for the outside world (a reconnect, a relay pass): a condition, not a duration; the
 * deadline only turns a hang into a message.
 */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 20_000): Promise<void> {
  const t0 = performance.now();
  while (!(await cond())) {
    if (performance.now() - t0 > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const api = () => client(svc.app);
let seq = 0;
async function reservations(n: number) {
  for (let i = 0; i < n; i++) {
    const r = await api().reserve({ orderRef: `fo-${++seq}`, channel: 'web', lines: [{ sku: 'FO-A', qty: 1 }] }, `fo-key-${seq}`);
    expect(r.status).toBe(201);
  }
}
const outboxIds = async () => (await pg<{ event_id: string }[]>`select event_id from outbox order by txid, id`).map((r) => r.event_id);
const unpublished = async () => (await pg<{ n: number }[]>`select count(*)::int as n from outbox o where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c)`)[0]!.n;
const entryId = (fields: string[]) => fields[fields.indexOf('id') + 1];

it('the relay resumes from the last entry on the new master and the rules are re-published, without a restart', async () => {
  expect((await api().setStock('FO-A', 'DC1', 100)).status).toBe(200);
  const rules = await api().putRules({ channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect: { '1': 10 } });
  expect(rules.status, JSON.stringify(rules.body)).toBe(200);
  const version = String(rules.body.version);
  await reservations(8);
  await waitFor('every event on the first master', async () => (await unpublished()) === 0);
  const full = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
  expect(full.map(([, f]) => entryId(f))).toEqual(await outboxIds());
  expect(await redis.hget(rulesKey, 'version')).toBe(version);

  // the master is lost; the new one (a replica that missed the tail) holds only the first half
  await server.kill();
  await server.start();
  const kept = Math.floor(full.length / 2);
  await waitFor('test client reconnected', async () => (await redis.ping().catch(() => '')) === 'PONG');
  for (const [id, fields] of full.slice(0, kept)) await redis.xadd(stream, id, ...fields);

  // traffic goes on through the failover
  await reservations(4);
  await waitFor('the stream holds every outbox event again', async () => (await redis.xlen(stream)) === (await outboxIds()).length && (await unpublished()) === 0);
  const after = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
  // what the lost master had is back, byte for byte and with its ids; then the new events, once each
  expect(after.slice(0, full.length)).toEqual(full);
  expect(after.map(([, f]) => entryId(f))).toEqual(await outboxIds());
  expect(svc.relay!.status().resumed).toBe(full.length - kept);

  await waitFor('rules re-published on the new master', async () => (await redis.hget(rulesKey, 'version')) === version);
  const doc = JSON.parse((await redis.hget(rulesKey, 'doc'))!) as Record<string, unknown>;
  expect(doc).toMatchObject({ channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect: { '1': 10 } });
});
