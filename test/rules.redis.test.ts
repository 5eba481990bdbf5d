/**
 * Rules held in Redis (issue 3), against real Redis and Postgres:
 * - two service instances share one Redis key and one database: a PUT on one is enforced by the
 *   other as soon as it re-reads (the re-read an announcement or the periodic poll triggers; here
 *   the test triggers it explicitly with `reload()`, so nothing waits on time);
 * - optimistic concurrency: a stale If-Match is a 412, two concurrent PUTs with the same If-Match
 *   give exactly one 200; an invalid document is a 400 naming the field; a version written
 *   straight into Redis that Postgres (the authority) lacks is never enforced nor overwritten
 *   (degraded, with the remedy) and is replaced once the key is deleted;
 * - a PRIVATE redis-server is killed in the middle of reservation traffic: no request fails for
 *   that reason, the rules stay enforced from memory, /readyz says degraded (still 200); after a
 *   restart on the same port (empty: no persistence) the Postgres version is written back, and
 *   a version committed in Postgres but never written to Redis is picked up by the next re-read
 *   and written there.
 * Each describe has its own database (the rules and their versions live in Postgres).
 * Staleness (rules not confirmed against Redis for staleAfterMs) runs on a test clock the test
 * moves; what is still awaited is only the outside world: a redis-server process restarting, the
 * client reconnecting, and traffic making progress (conditions, not durations).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { RedisRulesStore } from '../src/rules/redis-store.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';
import { PrivateRedis } from './helpers/redis-server.js';

const SHARED_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const json = { 'content-type': 'application/json' };
/** each describe gets its own database: the rules (and their versions) live there */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
const dbs: (typeof db)[] = [];
const freshDb = () =>
  beforeAll(async () => {
    db = await createTestDatabase();
    dbs.push(db);
  });
const services: Service[] = [];
const redisClients: Redis[] = [];
let privateRedis: PrivateRedis | undefined;

const configFor = (redisUrl: string, key: string) =>
  loadConfig({ DATABASE_URL: db.url, REDIS_URL: redisUrl, ATP_RULES_KEY: key, ATP_DB_POOL_MAX: '5', LOG_LEVEL: 'silent' });

async function service(redisUrl: string, key: string, clock?: ManualClock): Promise<Service> {
  // no outbox relay: these services share Redis's default event stream name, and only the rules matter here
  const s = await createService(configFor(redisUrl, key), { sweeper: false, relay: false, ...(clock ? { clock } : {}) });
  services.push(s);
  return s;
}

function redis(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  redisClients.push(c);
  return c;
}

const uniqueKey = () => `atp:test:rules:${randomBytes(6).toString('hex')}`;

async function putRules(s: Service, body: unknown, ifMatch?: string) {
  return client(s.app).raw('/v1/rules', { method: 'PUT', headers: { ...json, ...(ifMatch ? { 'if-match': ifMatch } : {}) }, body: JSON.stringify(body) });
}

async function stock(s: Service, sku: string, onHand: number) {
  const r = await client(s.app).raw(`/v1/inventory/${sku}/DC1`, { method: 'PUT', headers: json, body: JSON.stringify({ onHand }) });
  expect(r.status).toBe(200);
}

let seq = 0;
async function reserve(s: Service, channel: string, sku: string, qty = 1) {
  const n = ++seq;
  const r = await client(s.app).raw('/v1/reservations', {
    method: 'POST',
    headers: { ...json, 'idempotency-key': `rk-${n}-${randomBytes(4).toString('hex')}` },
    body: JSON.stringify({ orderRef: `o-${n}`, channel, lines: [{ sku, qty }] }),
  });
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

async function channelAtp(s: Service, sku: string, channel: string) {
  const r = await client(s.app).raw(`/v1/atp?sku=${sku}&channel=${channel}`);
  expect(r.status).toBe(200);
  const body = (await r.json()) as { skus: { available: number; channel: { available: number; rulesVersion: number } }[] };
  return body.skus[0]!;
}

/** Re-read now on each instance, one after the other (what an announcement or the periodic poll triggers). */
async function poll(...ss: Service[]): Promise<void> {
  for (const x of ss) await (x.rules as RedisRulesStore).reload();
}

/** staleAfterMs of a store with the default poll interval (max(3 × 500 ms, 2 s)) */
const STALE_AFTER_MS = 2000;

/**
 * Wait for the outside world (a process restart, a reconnect, traffic progress): a condition, not
 * a duration; the deadline only turns a hang into a message.
 */
async function waitFor(what: string, cond: () => boolean | Promise<boolean>, deadlineMs = 5000, stepMs = 5): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await cond()) return performance.now() - t0;
    if (performance.now() - t0 > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

afterAll(async () => {
  for (const s of services) await s.stop().catch(() => {});
  for (const c of redisClients) c.disconnect();
  await privateRedis?.kill();
  for (const d of dbs) await d.drop();
});

describe('two instances, one Redis', () => {
  freshDb();
  let a: Service;
  let b: Service;
  const key = uniqueKey();

  beforeAll(async () => {
    a = await service(SHARED_REDIS, key);
    b = await service(SHARED_REDIS, key);
  });

  it('a PUT on one instance is enforced by the other once it re-reads', async () => {
    await stock(a, 'PROP-1', 10);
    expect((await channelAtp(b, 'PROP-1', 'mkt')).channel.available).toBe(10);

    for (let round = 0; round < 10; round++) {
      // alternate between "mkt may take nothing" and "mkt may take everything"
      const protect = round % 2 === 0 ? { '1': 10 } : {};
      const before = (await client(a.app).raw('/v1/rules')).headers.get('etag')!;
      const put = await putRules(a, { channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect }, before);
      expect(put.status).toBe(200);
      const version = ((await put.json()) as { version: number }).version;
      await poll(b);
      expect(b.rules.current().version).toBe(version);
      // enforced by b: the channel view and the allocation both follow the new rules
      expect((await channelAtp(b, 'PROP-1', 'mkt')).channel).toMatchObject({ available: round % 2 === 0 ? 0 : 10, rulesVersion: version });
    }

    // the last round left mkt free; protect everything again and reserve on b
    const etag = (await client(a.app).raw('/v1/rules')).headers.get('etag')!;
    const put = await putRules(a, { channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect: { '1': 10 } }, etag);
    const version = ((await put.json()) as { version: number }).version;
    await poll(b);
    expect(b.rules.current().version).toBe(version);
    const refused = await reserve(b, 'mkt', 'PROP-1');
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ code: 'channel-limit', rulesVersion: version, lines: [{ sku: 'PROP-1', reason: 'protected', available: 0 }] });
    expect(String(refused.body.type)).toMatch(/\/channel-limit$/);
    const ok = await reserve(b, 'web', 'PROP-1', 4);
    expect(ok.status).toBe(201);
    expect(ok.body.rulesVersion).toBe(version);
    // plain shortage is a different problem type
    const short = await reserve(b, 'web', 'PROP-1', 7);
    expect(short.status).toBe(409);
    expect(short.body.code).toBe('insufficient-stock');
  });

  it('a stale If-Match is a 412; two concurrent PUTs with the same If-Match: exactly one wins', async () => {
    const etag = (await client(a.app).raw('/v1/rules')).headers.get('etag')!;
    const first = await putRules(b, { defaultTier: 2 }, etag);
    expect(first.status).toBe(200);
    const stale = await putRules(a, { defaultTier: 3 }, etag);
    expect(stale.status).toBe(412);
    const problem = (await stale.json()) as { code: string; currentVersion: number };
    expect(problem.code).toBe('precondition-failed');
    expect(`"${problem.currentVersion}"`).toBe(first.headers.get('etag'));

    const now = first.headers.get('etag')!;
    const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => putRules(i % 2 ? a : b, { defaultTier: 1 + (i % 3) }, now)));
    const statuses = racing.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 412, 412, 412, 412, 412]);
    const winner = racing.find((r) => r.status === 200)!;
    const doc = (await winner.json()) as { version: number; defaultTier: number };
    await poll(a, b);
    expect([a.rules.current().version, b.rules.current().version]).toEqual([doc.version, doc.version]);
    expect(a.rules.current().defaultTier).toBe(doc.defaultTier);
    expect(b.rules.current().defaultTier).toBe(doc.defaultTier);
  });

  it('an invalid document is a 400 naming the field; nothing changes', async () => {
    const version = a.rules.current().version;
    const bad = await putRules(a, { channels: { web: { tier: 0 } } });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const problem = (await bad.json()) as { code: string; errors: { field: string }[] };
    expect(problem.code).toBe('validation-failed');
    expect(problem.errors.map((e) => e.field).join(' ')).toMatch(/channels\.web\.tier/);
    const badShare = await putRules(a, { skus: { 'FLASH-1': { protect: { '1': { share: 1.5 } } } } });
    expect(badShare.status).toBe(400);
    expect(((await badShare.json()) as { errors: { field: string }[] }).errors.map((e) => e.field).join(' ')).toMatch(/skus\.FLASH-1\.protect\.1/);
    expect(a.rules.current().version).toBe(version);
  });

  it('a version written straight into Redis that Postgres does not have is never enforced nor overwritten: degraded with the remedy; once the key is deleted the Postgres version is written back', async () => {
    const r = redis(SHARED_REDIS);
    const good = a.rules.current();
    const input = (({ version: _v, updatedAt: _u, ...rest }) => rest)(good);
    // a higher version (by hand, or another deployment sharing the key), then an unparsable one
    for (const [version, doc] of [[String(good.version + 5), { channels: { web: { tier: 2 } } }], ['x1', { channels: { web: { tier: 'high' } } }]] as const) {
      await r.hset(key, 'version', version, 'doc', JSON.stringify(doc));
      await r.publish(`${key}:changed`, version);
      await poll(a, b);
      for (const x of [a, b]) expect(x.rules.status().detail).toContain(`Redis holds rules version ${version}, which Postgres does not have`);
      expect(a.rules.current()).toEqual(good);
      expect(b.rules.current()).toEqual(good);
      expect(await r.hget(key, 'version')).toBe(version);
      const ready = await client(a.app).raw('/readyz');
      expect(ready.status).toBe(200);
      expect(((await ready.json()) as { status: string }).status).toBe('degraded');
    }
    // the operator deletes the key: the instances write the Postgres version there
    await r.del(key);
    await poll(a, b);
    expect(await r.hget(key, 'version')).toBe(String(good.version));
    expect(JSON.parse((await r.hget(key, 'doc'))!)).toEqual(input);
    expect([a.rules.status().state, b.rules.status().state]).toEqual(['fresh', 'fresh']);
    // the next version is Postgres's next, whatever Redis held
    const next = await putRules(a, { channels: { web: { tier: 1 } } }, `"${good.version}"`);
    expect(next.status).toBe(200);
    expect(next.headers.get('etag')).toBe(`"${good.version + 1}"`);
    await poll(b);
    expect(b.rules.current().version).toBe(good.version + 1);
  });
});

describe('Redis killed and restarted in the middle of reservation traffic (private redis-server)', () => {
  freshDb();
  it('no request fails for that reason; rules enforced from memory; /readyz degraded; fresh rules picked up after restart', async () => {
    privateRedis = await PrivateRedis.start();
    const key = uniqueKey();
    const clock = new ManualClock();
    const s = await service(privateRedis.url, key, clock);
    const store = s.rules as RedisRulesStore;
    // SKU with plenty of stock; mkt (tier 3) must leave 99 900 of 100 000 for tier 1, so it can take 100
    await stock(s, 'OUT-1', 100_000);
    const put = await putRules(s, { channels: { web: { tier: 1 }, mkt: { tier: 3 } }, protect: { '1': 99_900 } }, '"0"');
    expect(put.status).toBe(200);
    const v1 = ((await put.json()) as { version: number }).version;

    const results: { phase: string; channel: string; status: number; code?: string; rulesVersion?: number }[] = [];
    let phase = 'before';
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const channel = (w + i) % 2 === 0 ? 'mkt' : 'web';
        const r = await reserve(s, channel, 'OUT-1');
        results.push({ phase, channel, status: r.status, code: r.body.code as string | undefined, rulesVersion: r.body.rulesVersion as number | undefined });
      }
    };
    const workers = Array.from({ length: 6 }, (_, w) => worker(w));
    try {
      await waitFor('traffic under way', () => results.length >= 150, 20_000, 20);
      await privateRedis.kill();
      phase = 'down';
      // nothing confirms the rules against Redis any more: once staleAfterMs has passed they are degraded (whatever the client noticed yet)
      clock.advance(STALE_AFTER_MS + 1);
      const readyRes = await client(s.app).raw('/readyz');
      expect(readyRes.status).toBe(200);
      const ready = (await readyRes.json()) as { status: string; checks: { rules: Record<string, unknown> } };
      expect(ready.status).toBe('degraded');
      expect(ready.checks.rules).toMatchObject({ ok: true, source: 'redis', state: 'degraded', version: v1, loaded: true });
      expect(typeof ready.checks.rules.ageSeconds).toBe('number');
      console.log(`/readyz while Redis is down: ${JSON.stringify(ready.checks.rules)}`);
      // a rules write needs Redis: a 503 for the PUT, and the rules in force do not change
      const putDown = await putRules(s, { protect: {} }, `"${v1}"`);
      expect(putDown.status).toBe(503);
      expect(((await putDown.json()) as { code: string }).code).toBe('rules-store-unavailable');
      expect(s.rules.current().version).toBe(v1);
      await waitFor('traffic during the outage', () => results.filter((r) => r.phase === 'down').length >= 150, 20_000, 20);

      await privateRedis.start();
      phase = 'back';
      const r = redis(privateRedis.url);
      // the instance writes its last good copy back into the empty Redis
      await waitFor('last good version written back', async () => (await r.hget(key, 'version').catch(() => null)) === String(v1), 10_000, 50);
      await waitFor('readyz fresh', async () => ((await (await client(s.app).raw('/readyz')).json()) as { status: string }).status === 'ready', 10_000, 50);
      // a version committed in Postgres whose writer died before writing Redis (no announcement):
      // the next re-read (the periodic poll's; here triggered) applies it and writes it to Redis
      const v2 = v1 + 1;
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      try {
        await sql`insert into rules (version, doc) values (${v2}, ${sql.json({ channels: { web: { tier: 1 }, mkt: { tier: 1 } }, protect: { '1': 99_900 } })})`;
      } finally {
        await sql.end();
      }
      await poll(s);
      expect(s.rules.current().version).toBe(v2);
      expect(await r.hget(key, 'version')).toBe(String(v2));
      phase = 'after';
      await waitFor('traffic after the new rules', () => results.filter((x) => x.phase === 'after' && x.channel === 'mkt' && x.status === 201).length >= 20, 20_000, 20);
    } finally {
      running = false;
      await Promise.all(workers);
    }

    const count = (f: (x: (typeof results)[number]) => boolean) => results.filter(f).length;
    console.log(
      `traffic: ${results.length} requests (${count((x) => x.phase === 'down')} while Redis was down); statuses ${JSON.stringify(
        Object.fromEntries([...new Set(results.map((x) => `${x.status}${x.code ? ' ' + x.code : ''}`))].map((k) => [k, count((x) => `${x.status}${x.code ? ' ' + x.code : ''}` === k)])),
      )}`,
    );
    // no request failed because Redis was down: every answer is a 201 or mkt held back by the rules
    const unexpected = results.filter((x) => !(x.status === 201 || (x.status === 409 && x.code === 'channel-limit' && x.channel === 'mkt')));
    expect(unexpected).toEqual([]);
    expect(count((x) => x.phase === 'down' && x.status === 201)).toBeGreaterThan(0);
    // the rules were enforced from memory during the outage: mkt was held back, web was served
    expect(count((x) => x.phase === 'down' && x.channel === 'mkt' && x.status === 409)).toBeGreaterThan(0);
    expect(count((x) => x.phase === 'down' && x.channel === 'web' && x.status === 201)).toBeGreaterThan(0);
    // and mkt never took a protected unit before the rules changed
    const sql = postgres(db.url, { max: 1 });
    try {
      const rows = await sql<{ channel: string; rules_version: number; qty: number }[]>`
        select r.channel, r.rules_version, sum(l.qty)::int as qty from reservations r join reservation_lines l on l.reservation_id = r.id
        where l.sku = 'OUT-1' group by r.channel, r.rules_version`;
      const mktUnderV1 = rows.filter((x) => x.channel === 'mkt' && x.rules_version === v1).reduce((n, x) => n + x.qty, 0);
      expect(mktUnderV1).toBeLessThanOrEqual(100);
      expect(rows.some((x) => x.channel === 'mkt' && x.rules_version === v1 + 1)).toBe(true);
      const [p] = await sql<{ on_hand: number; reserved: number }[]>`select on_hand, reserved from positions where sku = 'OUT-1'`;
      expect(p!.reserved).toBe(rows.reduce((n, x) => n + x.qty, 0));
    } finally {
      await sql.end();
    }
  });
});

describe('Redis hanging (SIGSTOP on a private redis-server)', () => {
  freshDb();
  it('calls are bounded: PUT answers 503, reservations go on under the rules in memory, /readyz degraded, then fresh after SIGCONT', async () => {
    const hung = await PrivateRedis.start();
    const clock = new ManualClock();
    try {
      const s = await service(hung.url, uniqueKey(), clock);
      await stock(s, 'HANG-1', 10);
      const put = await putRules(s, { channels: { mkt: { tier: 3, maxUnits: 2 } } }, '"0"');
      expect(put.status).toBe(200);
      hung.pause();
      // the connection stays open and silent: only the command timeout ends the wait
      const putHung = await putRules(s, { channels: {} }, '"1"');
      expect(putHung.status).toBe(503);
      // the connection is open and silent: only staleness says so, once staleAfterMs has passed without a confirmation
      expect(((await (await client(s.app).raw('/readyz')).json()) as { status: string }).status).toBe('ready');
      clock.advance(STALE_AFTER_MS + 1);
      expect(((await (await client(s.app).raw('/readyz')).json()) as { status: string }).status).toBe('degraded');
      const answers = await Promise.all(Array.from({ length: 4 }, () => reserve(s, 'mkt', 'HANG-1')));
      expect(answers.map((a) => a.status).sort()).toEqual([201, 201, 409, 409]);
      expect(answers.filter((a) => a.status === 409).every((a) => a.body.code === 'channel-limit')).toBe(true);
      hung.resume();
      await poll(s); // the next re-read after SIGCONT confirms the rules again
      expect(((await (await client(s.app).raw('/readyz')).json()) as { status: string }).status).toBe('ready');
      expect(s.rules.current().version).toBe(1);
    } finally {
      hung.resume();
      await hung.kill();
    }
  });
});

describe('without REDIS_URL: the same API, rules in Postgres', () => {
  freshDb();
  it('same schema, same optimistic concurrency, /readyz reports the Postgres store', async () => {
    const s = await createService(loadConfig({ DATABASE_URL: db.url, ATP_DB_POOL_MAX: '2', LOG_LEVEL: 'silent' }), { sweeper: false });
    services.push(s);
    const get = await client(s.app).raw('/v1/rules');
    expect(get.headers.get('etag')).toBe('"0"');
    const put = await putRules(s, { channels: { mkt: { tier: 3, maxUnits: 1 } } }, '"0"');
    expect(put.status).toBe(200);
    expect(put.headers.get('etag')).toBe('"1"');
    expect((await putRules(s, { defaultTier: 2 }, '"0"')).status).toBe(412);
    expect((await putRules(s, { channels: { mkt: { maxShare: 2 } } }, '"1"')).status).toBe(400);
    const ready = (await (await client(s.app).raw('/readyz')).json()) as { status: string; checks: { rules: unknown } };
    expect(ready).toMatchObject({ status: 'ready', checks: { rules: { ok: true, source: 'postgres', state: 'fresh', version: 1 } } });
  });
});
