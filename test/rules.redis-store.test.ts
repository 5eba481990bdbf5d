/**
 * The Redis rules store on its own, against the real Redis (no service, no Postgres; each test its
 * own key), fast enough to run for every mutant of src/rules/** (vitest.mutation.config.ts):
 * - versions: a fresh key serves the defaults (version 0); each put adds one; If-Match is a
 *   compare-and-set (412 with the current version); a put reaching Redis after its deadline does
 *   nothing (503);
 * - propagation: a put through one store is applied by another through the change announcement;
 * - an invalid document written into Redis is ignored (last good version stays, status degraded,
 *   logged) until a valid put replaces it;
 * - Redis that lost the document, or holds an older version, gets the last good copy written back;
 * - Redis unreachable: the store never loaded, says so, and a put is a 503 rules-store-unavailable.
 * Waits are for a condition (bounded), never for a length of time.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, afterEach, expect, it } from 'vitest';
import { freePort } from '../bench/lib/proc.js';
import { PreconditionFailed, Unavailable } from '../src/domain/errors.js';
import { createLogger } from '../src/logger.js';
import { RedisRulesStore } from '../src/rules/redis-store.js';
import { DEFAULT_RULES, RulesInput } from '../src/rules/schema.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const admin = new Redis(REDIS_URL);
const keys: string[] = [];
const stores: RedisRulesStore[] = [];

afterEach(async () => {
  for (const s of stores.splice(0)) await s.stop();
});
afterAll(async () => {
  if (keys.length) await admin.del(...keys);
  admin.disconnect();
});

function logSink() {
  const lines: { level: number; msg: string; [k: string]: unknown }[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

function newStore(opts: { key?: string; url?: string; startWaitMs?: number; staleAfterMs?: number; pollMs?: number } = {}) {
  const key = opts.key ?? `test:rules:${randomBytes(6).toString('hex')}`;
  if (!keys.includes(key)) keys.push(key);
  const log = logSink();
  const store = new RedisRulesStore({ url: opts.url ?? REDIS_URL, key, pollMs: opts.pollMs ?? 60_000, startWaitMs: opts.startWaitMs ?? 5000, staleAfterMs: opts.staleAfterMs ?? 60_000, logger: log.logger });
  stores.push(store);
  return { store, key, log: log.lines };
}

/** Poll until `cond` holds (bounded: a failure, not a hang, if it never does). */
async function until(cond: () => boolean | Promise<boolean>, what: string, bound = 5000) {
  const deadline = Date.now() + bound;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const input = (tier: number) => RulesInput.parse({ defaultTier: tier, channels: { web: { tier: 1 } } });

it('RedisRulesStore: a fresh key: the defaults at version 0, loaded and fresh; the key and change channel are named after it', async () => {
  const { store, key } = newStore();
  expect(store.key).toBe(key);
  expect(store.channel).toBe(`${key}:changed`);
  await store.start();
  expect(store.current()).toEqual(DEFAULT_RULES);
  expect(store.status()).toMatchObject({ source: 'redis', state: 'fresh', version: 0, loaded: true });
  expect(store.status().detail).toBeUndefined();
  // nothing was written for the defaults
  expect(await admin.exists(key)).toBe(0);
  const defaults = new RedisRulesStore({ url: REDIS_URL, logger: createLogger('silent') });
  expect([defaults.key, defaults.channel]).toEqual(['atp:rules', 'atp:rules:changed']);
  await defaults.stop();
});

it('RedisRulesStore: put adds one version, stores the document, and another store applies it through the announcement', async () => {
  const a = newStore();
  const b = newStore({ key: a.key });
  await a.store.start();
  await b.store.start();
  const v1 = await a.store.put(input(4));
  expect(v1).toMatchObject({ ...input(4), version: 1 });
  expect(Number.isNaN(Date.parse(v1.updatedAt!))).toBe(false);
  expect(a.store.current()).toEqual(v1);
  const stored = await admin.hgetall(a.key);
  expect({ version: stored.version, doc: JSON.parse(stored.doc!), updatedAt: stored.updatedAt }).toEqual({ version: '1', doc: input(4), updatedAt: v1.updatedAt });
  await until(() => b.store.current().version === 1, 'b applies version 1');
  expect(b.store.current()).toEqual(v1);
  expect(b.log.some((l) => l.msg === 'rules applied' && l.rulesVersion === 1 && l.from === 0)).toBe(true);
  // a store started later loads the current version at start
  const c = newStore({ key: a.key });
  await c.store.start();
  expect(c.store.current()).toEqual(v1);
  expect(c.store.status()).toMatchObject({ state: 'fresh', version: 1, loaded: true });
});

it('RedisRulesStore: If-Match: the current version wins once, a stale one is a 412 naming the current version', async () => {
  const a = newStore();
  const b = newStore({ key: a.key });
  await a.store.start();
  await b.store.start();
  await a.store.put(input(2));
  const results = await Promise.allSettled([a.store.put(input(3), 1), b.store.put(input(4), 1)]);
  expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect(lost.reason).toBeInstanceOf(PreconditionFailed);
  expect(lost.reason).toMatchObject({ message: 'rules are at version 2, not 1', extra: { currentVersion: 2 } });
  expect(await admin.hget(a.key, 'version')).toBe('2');
  await expect(a.store.put(input(5), 0)).rejects.toMatchObject({ code: 'precondition-failed', extra: { currentVersion: 2 } });
  expect((await a.store.put(input(5), 2)).version).toBe(3);
});

it('RedisRulesStore: a put that reaches Redis after its deadline changes nothing: 503', async () => {
  const { store, key } = newStore();
  await store.start();
  await store.put(input(2));
  // pretend the Redis clock is far behind ours' measure: the script sees its deadline passed
  (store as unknown as { clockOffsetMs: number }).clockOffsetMs = -60_000;
  const late = store.put(input(5));
  await expect(late).rejects.toBeInstanceOf(Unavailable);
  await expect(late).rejects.toMatchObject({
    code: 'rules-store-unavailable',
    status: 503,
    message: 'the rules store (Redis) was too slow to apply the change before its deadline; the rules were not changed',
  });
  expect(await admin.hget(key, 'version')).toBe('1');
  expect(store.current().version).toBe(1);
});

it('RedisRulesStore: an invalid document in Redis is ignored and logged once; status degraded; a valid put recovers', async () => {
  const { store, key, log } = newStore();
  await store.start();
  await store.put(input(2));
  await admin.hset(key, 'version', '3', 'doc', JSON.stringify({ defaultTier: 0 }));
  await store.reload();
  expect(store.current().version).toBe(1);
  expect(store.status()).toMatchObject({ state: 'degraded', version: 1, detail: 'version 3 in Redis is not a valid rules document; serving version 1' });
  const errors = log.filter((l) => l.msg === 'rules store: invalid rules document in Redis ignored; keeping the last good version');
  expect(errors).toHaveLength(1);
  expect(errors[0]).toMatchObject({ rulesVersion: 3, inForce: 1, err: expect.stringContaining('defaultTier') });
  // read again: not logged again
  await store.reload();
  expect(log.filter((l) => l.msg === errors[0]!.msg)).toHaveLength(1);
  // a document that is not JSON at all, at a new version: ignored too
  await admin.hset(key, 'version', '4', 'doc', '{not json');
  await store.reload();
  expect(store.status()).toMatchObject({ state: 'degraded', detail: 'version 4 in Redis is not a valid rules document; serving version 1' });
  // a valid put replaces it (the version goes on from Redis's)
  const v = await store.put(input(6), 4);
  expect(v.version).toBe(5);
  expect(store.status()).toMatchObject({ state: 'fresh', version: 5 });
  expect(store.status().detail).toBeUndefined();
});

it('RedisRulesStore: Redis without the document, or with an older version, gets the last good copy back', async () => {
  const { store, key, log } = newStore();
  await store.start();
  const v1 = await store.put(input(2));
  const v2 = await store.put(input(3));
  await admin.del(key);
  await store.reload();
  expect(await admin.hget(key, 'version')).toBe('2');
  expect(JSON.parse((await admin.hget(key, 'doc'))!)).toEqual(input(3));
  expect(await admin.hget(key, 'updatedAt')).toBe(v2.updatedAt);
  expect(log.filter((l) => l.msg === 'rules store: Redis had lost the rules (or held an older version); wrote the last good version back')).toHaveLength(1);
  // an older version in Redis (a lagging replica promoted): written back too
  await admin.hset(key, 'version', '1', 'doc', JSON.stringify(input(2)), 'updatedAt', v1.updatedAt!);
  await store.reload();
  expect(await admin.hget(key, 'version')).toBe('2');
  expect(store.current()).toEqual(v2);
  expect(store.status()).toMatchObject({ state: 'fresh', version: 2 });
  // the same version: nothing to do
  await store.reload();
  expect(log.filter((l) => l.msg.startsWith('rules store: Redis had lost'))).toHaveLength(2);
});

it('RedisRulesStore: a store that never reached Redis: defaults, degraded with the reason, and a put is a 503', async () => {
  const port = await freePort();
  const { store, log } = newStore({ url: `redis://127.0.0.1:${port}`, startWaitMs: 200 });
  await store.start();
  expect(store.current()).toEqual(DEFAULT_RULES);
  const st = store.status();
  expect(st).toMatchObject({ source: 'redis', state: 'degraded', version: 0, loaded: false });
  expect(st.detail).toMatch(/^rules never loaded from Redis \(.+\); enforcing the defaults$/);
  const atStart = log.filter((l) => l.msg === 'rules store: could not load the rules from Redis at start; enforcing the defaults until it can (/readyz is 503 meanwhile)');
  expect(atStart).toHaveLength(1);
  expect(typeof atStart[0]!.err).toBe('string');
  // both connections fail on every reconnect attempt; the warning is logged once per 10 s, with the error
  const warned = log.filter((l) => l.msg === 'rules store: Redis error; serving the last good rules from memory');
  expect(warned).toHaveLength(1);
  expect(warned[0]).toMatchObject({ level: 40, component: 'rules', err: expect.any(String) });
  const put = store.put(input(2));
  await expect(put).rejects.toBeInstanceOf(Unavailable);
  await expect(put).rejects.toMatchObject({ code: 'rules-store-unavailable', status: 503, message: expect.stringMatching(/^the rules store \(Redis\) did not answer: .+; the rules were not changed$/) });
});

it('RedisRulesStore: loaded, then not confirmed for longer than staleAfterMs: degraded, naming the version served', async () => {
  const { store } = newStore({ staleAfterMs: 5000 });
  await store.start();
  await store.put(input(2));
  await store.reload();
  expect(store.status()).toMatchObject({ state: 'fresh', version: 1 });
  // last confirmed 6 s ago (set, then read synchronously: no reload can run in between)
  (store as unknown as { confirmedAt: number }).confirmedAt = Date.now() - 6000;
  expect(store.status()).toMatchObject({ state: 'degraded', version: 1, loaded: true, detail: 'Redis unreachable (no answer); serving the last good rules (version 1) from memory' });
  (store as unknown as { confirmedAt: number }).confirmedAt = Date.now() - 4000;
  expect(store.status()).toMatchObject({ state: 'fresh', version: 1 });
  await store.stop();
  // stopped: a reload reads nothing
  await admin.hset(store.key, 'version', '9');
  await store.reload();
  expect(store.current().version).toBe(1);
});

it('RedisRulesStore: a version written without an announcement is picked up by the periodic re-read', async () => {
  const a = newStore({ pollMs: 20 });
  await a.store.start();
  await admin.hset(a.key, 'version', '1', 'doc', JSON.stringify(input(5)), 'updatedAt', '2030-01-01T00:00:00.000Z');
  await until(() => a.store.current().version === 1, 'the poll applies version 1');
  expect(a.store.current()).toEqual({ ...input(5), version: 1, updatedAt: '2030-01-01T00:00:00.000Z' });
});

it('RedisRulesStore: an announcement makes it reload; concurrent reloads share one read', async () => {
  const { store, key } = newStore();
  await store.start();
  await admin.hset(key, 'version', '1', 'doc', JSON.stringify(input(5)));
  await admin.publish(`${key}:changed`, '1');
  await until(() => store.current().version === 1, 'the announcement applies version 1');
  const r1 = store.reload();
  const r2 = store.reload();
  expect(r2).toBe(r1);
  await r1;
});

it('RedisRulesStore: ageSeconds is the time since the rules were last confirmed, in tenths', async () => {
  const { store } = newStore();
  await store.start();
  (store as unknown as { confirmedAt: number }).confirmedAt = Date.now() - 12_300;
  expect(store.status().ageSeconds).toBe(12.3);
});
