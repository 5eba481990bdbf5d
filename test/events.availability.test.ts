/**
 * The availability feed (src/events/availability.ts), on real Postgres (and the shared Redis for
 * the stream), two service instances on one database sharing a test clock — time moves only
 * when the test says so, passes run when the test calls them:
 * 1. a change emits exactly one availability.changed per channel whose figure changed, with the
 *    figure GET /v1/atp answers for that channel (unnamed channels: `*`), and none for the others;
 * 2. many changes within one interval coalesce into one event per (SKU, channel) with the last
 *    figure; no pass emits within the interval of the last emission;
 * 3. no change, no event; every stock-changing verb (count, reserve, release, commit, expiry,
 *    receipt) is noticed;
 * 4. a restarted instance neither re-emits nor misses; two instances never double-emit (the pass
 *    lock, and a stale pass's failed state update);
 * 5. a rules change (a cap for one channel) emits for that channel only; an instance with older
 *    rules waits;
 * 6. rows deleted by the outbox retention before a pass read them: the pass rescans everything;
 *    kits follow their components, and their definition changes;
 * 7. the events reach GET /v1/events?type=… (channel keys: their own channels) and the stream,
 *    as CloudEvents with the versioned dataschema.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { AVAILABILITY_LOCK } from '../src/events/availability.js';
import { OutboxRelay } from '../src/events/relay.js';
import { CloudEvent, parseEventData } from '../src/contract/events.js';
import type { PostgresRulesStore } from '../src/rules/store.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';
import { settled } from './helpers/outbox.js';

const INTERVAL = 1000;
const ADMIN = 'admin-key-0123456789';
const WEB = 'web-key-0123456789ab';
const B2B = 'b2b-key-0123456789ab';
const SHARED_REDIS = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** tier 1 b2b sees everything; web (tier 2, cap 4) and unnamed channels (`*`, tier 3) leave 3 units to tier 1 */
const RULES = { channels: { b2b: { tier: 1 }, web: { tier: 2, maxUnits: 4 } }, protect: { '1': 3 } };

const clock = new ManualClock();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let sql: postgres.Sql;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  env = {
    DATABASE_URL: db.url,
    LOG_LEVEL: 'silent',
    ATP_AVAILABILITY_INTERVAL_MS: String(INTERVAL),
    ATP_API_KEYS: `${ADMIN}=admin,${WEB}=channel:web,${B2B}=channel:b2b`,
  };
  a = await createService(loadConfig(env), { sweeper: false, relay: false, clock });
  // B re-reads the rules only when told (test 5 needs it to be behind)
  b = await createService(loadConfig({ ...env, ATP_RULES_POLL_MS: '60000' }), { sweeper: false, relay: false, clock });
  sql = postgres(db.url, { max: 2, onnotice: () => {} });
  expect((await client(a.app, ADMIN).putRules(RULES)).status).toBe(200);
  await (b.rules as PostgresRulesStore).reload();
});
afterAll(async () => {
  await sql?.end();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

const api = () => client(a.app, ADMIN);
const tick = () => clock.advance(INTERVAL);

/** one pass of `svc` once the outbox has settled */
async function pass(svc: Service) {
  await settled(sql);
  return svc.availability.publishOnce();
}

interface Change {
  sku: string;
  channel: string;
  available: number;
  previous: number | null;
  rulesVersion: number;
  asOf: string;
}
let seen = '0.0';
/** availability.changed events written since the last call (GET /v1/events?type=…), optionally of one SKU prefix */
async function newChanges(prefix = ''): Promise<(Change & { time: string })[]> {
  const out: (Change & { time: string })[] = [];
  await settled(sql); // the feed, too, serves only settled rows
  for (;;) {
    const r = await api().call('GET', `/v1/events?type=availability.changed&limit=1000&after=${seen}`);
    expect(r.status).toBe(200);
    for (const e of r.body.events as CloudEvent[]) {
      expect(e.type).toBe('availability.changed');
      expect(e.dataschema).toBe('https://atp.example.com/schemas/events.json#/$defs/availability.changed.v1');
      const d = parseEventData(e.type, e.data) as Change;
      expect(e.subject).toBe(`${d.channel}/${d.sku}`);
      expect(e.time).toBe(d.asOf);
      if (d.sku.startsWith(prefix)) out.push({ ...d, time: e.time });
    }
    if (r.body.next === seen) return out;
    seen = r.body.next;
  }
}
/** `channel.available` of GET /v1/atp; `*` asked as a channel the rules do not name */
async function atp(sku: string, channel: string): Promise<number> {
  const r = await api().atp([sku], channel === '*' ? 'pos' : channel);
  expect(r.status).toBe(200);
  return r.body.skus[0].channel.available;
}
/** each event's figure is what GET /v1/atp answers now */
async function expectConsistent(changes: Change[]) {
  for (const c of changes) expect(c.available, `${c.channel}/${c.sku}`).toBe(await atp(c.sku, c.channel));
}
const figures = (changes: Change[]) => Object.fromEntries(changes.map((c) => [`${c.channel}/${c.sku}`, c.available]));

describe('availability.changed', () => {
  it('a change emits exactly one event per channel whose figure changed, with the figure GET /v1/atp answers', async () => {
    expect((await api().setStock('AV1', 'DC1', 10)).status).toBe(200);
    tick();
    const first = await pass(a);
    expect(first).toMatchObject({ full: true }); // the first pass looks at every stocked SKU
    const c1 = await newChanges('AV1');
    // b2b: 10; web: min(10 − 3 protected, cap 4) = 4; `*` (tier 3): 10 − 3 = 7
    expect(figures(c1)).toEqual({ '*/AV1': 7, 'b2b/AV1': 10, 'web/AV1': 4 });
    expect(c1.every((c) => c.previous === null && c.rulesVersion === a.rules.current().version)).toBe(true);
    await expectConsistent(c1);

    // one unit to b2b: b2b 9, `*` 6, web still 4 (its cap binds): no event for web
    expect((await api().reserve({ orderRef: 'av1-1', channel: 'b2b', lines: [{ sku: 'AV1', qty: 1 }] })).status).toBe(201);
    tick();
    expect(await pass(a)).toMatchObject({ full: false, emitted: 2 });
    const c2 = await newChanges('AV1');
    expect(c2.map((c) => [c.channel, c.available, c.previous])).toEqual([
      ['*', 6, 7],
      ['b2b', 9, 10],
    ]);
    await expectConsistent(c2);
  });

  it('many changes within an interval coalesce into one event per SKU and channel, with the last figure', async () => {
    await api().setStock('AV2', 'DC1', 20);
    tick();
    await pass(a);
    await newChanges();
    // within the interval of that emission: three changes, and passes on both instances emit nothing
    await api().setStock('AV2', 'DC1', 30);
    const r = await api().reserve({ orderRef: 'av2-1', channel: 'b2b', lines: [{ sku: 'AV2', qty: 5 }] });
    expect(r.status).toBe(201);
    await api().setStock('AV2', 'DC1', 28);
    clock.advance(INTERVAL - 1);
    expect(await pass(a)).toMatchObject({ skipped: 'interval', emitted: 0 });
    expect(await pass(b)).toMatchObject({ skipped: 'interval', emitted: 0 });
    expect(await newChanges()).toEqual([]);
    clock.advance(1);
    expect(await pass(a)).toMatchObject({ emitted: 2 });
    const c = await newChanges('AV2');
    // 28 on hand, 5 reserved: b2b 23, `*` 20; web stays at its cap 4
    expect(c.map((x) => [x.channel, x.available, x.previous])).toEqual([
      ['*', 20, 17],
      ['b2b', 23, 20],
    ]);
    await expectConsistent(c);
    // the two emissions of `*`/AV2 are a full interval apart
    const times = (await sql`select created_at from outbox where subject = '*/AV2' order by txid, id`).map((x) => new Date(x.created_at as string).getTime());
    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(INTERVAL);
  });

  it('no change, no event — on either instance, however many passes', async () => {
    tick();
    await pass(a);
    await newChanges();
    for (let i = 0; i < 3; i++) {
      tick();
      expect((await pass(a)).emitted).toBe(0);
      expect((await pass(b)).emitted).toBe(0);
    }
    // a change that leaves every figure as it was (a reorder point) is noticed but emits nothing
    await api().setStock('AV1', 'DC1', 10, { reorderPoint: 1 });
    tick();
    expect(await pass(a)).toMatchObject({ skus: 1, emitted: 0 });
    expect(await newChanges()).toEqual([]);
  });

  it('every stock-changing verb is noticed: count, reserve, release, commit, expiry, receipt', async () => {
    const step = async (what: string, change: () => Promise<unknown>, emits = true) => {
      await change();
      tick();
      const p = await pass(a);
      expect(p.skus, what).toBe(1); // AV3 was looked at
      const c = await newChanges('AV3');
      expect(c.length > 0, what).toBe(emits);
      expect(p.emitted, what).toBe(c.length);
      await expectConsistent(c);
    };
    await step('count', () => api().setStock('AV3', 'DC1', 10));
    let id = '';
    await step('reserve', async () => {
      const r = await api().reserve({ orderRef: 'av3-1', channel: 'b2b', lines: [{ sku: 'AV3', qty: 4 }], holdSeconds: 60 });
      expect(r.status).toBe(201);
      id = r.body.id;
    });
    await step('release', async () => expect((await api().release(id, { lines: [{ sku: 'AV3', qty: 1 }] })).status).toBe(200));
    // shipping a held unit lowers onHand and reserved alike: noticed, nothing to emit
    await step('commit', async () => expect((await api().commit(id, { lines: [{ sku: 'AV3', qty: 1 }] })).status).toBe(200), false);
    await step('expiry', async () => {
      clock.advance(61_000);
      expect(await a.sweep()).toBe(1);
    });
    await step('receipt', async () => {
      const s = await api().call('POST', '/v1/supply', { sku: 'AV3', location: 'DC1', qty: 5, expectedAt: new Date(clock.now().getTime() + 86_400_000).toISOString() }, { 'idempotency-key': 'av3-po' });
      expect(s.status).toBe(201);
      expect((await api().call('POST', `/v1/supply/${s.body.id}/receipts`, { qty: 5 }, { 'idempotency-key': 'av3-rcv' })).status).toBe(200);
    });
  });

  it('a restarted instance neither re-emits nor misses', async () => {
    tick();
    await pass(a);
    await newChanges();
    const c = await createService(loadConfig(env), { sweeper: false, relay: false, clock });
    tick();
    expect((await pass(c)).emitted).toBe(0);
    await c.stop();
    // a change while no publisher runs
    await api().setStock('AV4', 'DC1', 8);
    const d = await createService(loadConfig(env), { sweeper: false, relay: false, clock });
    try {
      tick();
      expect(await pass(d)).toMatchObject({ full: false, emitted: 3 });
      const after = await newChanges();
      expect(figures(after)).toEqual({ '*/AV4': 5, 'b2b/AV4': 8, 'web/AV4': 4 });
      tick();
      expect((await pass(d)).emitted).toBe(0);
    } finally {
      await d.stop();
    }
  });

  it('passes take turns: while another holds the pass lock, a pass skips', async () => {
    // the lock: while held, a pass skips instead of waiting or emitting
    await api().setStock('AV5', 'DC1', 12);
    tick();
    await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${AVAILABILITY_LOCK.toString()}::bigint)`;
      expect(await pass(a)).toMatchObject({ skipped: 'busy', emitted: 0 });
    });
    expect((await pass(a)).emitted).toBe(3);
    await newChanges();
  });

  it('two instances passing at once, over many changes: every change emitted once', async () => {
    await api().setStock('AV5', 'DC1', 12);
    tick();
    await pass(a);
    await newChanges();
    for (let i = 0; i < 15; i++) {
      await api().setStock('AV5', 'DC1', 13 + i);
      tick();
      const [x, y] = (await settled(sql), await Promise.all([a.availability.publishOnce(), b.availability.publishOnce()]));
      expect(x.emitted + y.emitted, `round ${i}`).toBe(2); // `*` and b2b; web stays at its cap
      const c = await newChanges('AV5');
      expect(c.map((e) => e.channel).sort(), `round ${i}`).toEqual(['*', 'b2b']);
      expect(figures(c)).toEqual({ '*/AV5': 10 + i, 'b2b/AV5': 13 + i });
    }
  });

  it('a rules change (a cap for one channel) emits for that channel only; an instance with older rules waits', async () => {
    tick();
    await pass(a);
    await newChanges();
    const old = a.rules.current().version;
    expect((await api().putRules({ ...RULES, channels: { ...RULES.channels, b2b: { tier: 1, maxUnits: 6 } } })).status).toBe(200);
    tick();
    const p = await pass(a);
    expect(p).toMatchObject({ full: true });
    const c = await newChanges();
    expect(c.length).toBe(p.emitted);
    expect(c.length).toBeGreaterThan(0);
    expect(new Set(c.map((x) => x.channel))).toEqual(new Set(['b2b']));
    expect(c.every((x) => x.rulesVersion === old + 1 && x.available <= 6)).toBe(true);
    await expectConsistent(c);
    // B still has the old rules: it must not compute figures under them
    expect(b.rules.current().version).toBe(old);
    await api().setStock('AV1', 'DC1', 2);
    tick();
    expect(await pass(b)).toMatchObject({ skipped: 'rules-behind' });
    await (b.rules as PostgresRulesStore).reload();
    expect((await pass(b)).emitted).toBe(3);
    await expectConsistent(await newChanges());
  });

  it('rows deleted by the retention before a pass read them: the pass looks at every SKU', async () => {
    tick();
    await pass(a);
    await newChanges();
    await api().setStock('AV6', 'DC1', 9);
    await sql`delete from outbox`; // what purgeOutbox does to rows older than the retention
    seen = '0.0';
    tick();
    expect(await pass(a)).toMatchObject({ full: true, emitted: 3 });
    expect(figures(await newChanges())).toEqual({ '*/AV6': 6, 'b2b/AV6': 6, 'web/AV6': 4 });
    tick();
    expect((await pass(a)).emitted).toBe(0);
  });

  it('kits: a change of a component emits the kit figure as GET /v1/atp answers it; a kit defined or removed emits too', async () => {
    await api().setStock('AV8', 'DC1', 10);
    await api().setStock('AV9', 'DC1', 4);
    tick();
    await pass(a);
    await newChanges();
    // defining a kit writes no outbox event: the pass notices the kit definitions changed
    expect((await api().call('PUT', '/v1/kits/AVKIT', { components: [{ sku: 'AV8', qty: 2 }, { sku: 'AV9', qty: 1 }] })).status).toBe(200);
    tick();
    expect(await pass(a)).toMatchObject({ full: true, emitted: 3 });
    const defined = await newChanges('AVKIT');
    // b2b (cap 6 since the rules change): min(6/2, 4/1) = 3; web (3 protected, cap 4): min(4/2, 1/1) = 1; `*`: min(7/2, 1/1) = 1
    expect(figures(defined)).toEqual({ '*/AVKIT': 1, 'b2b/AVKIT': 3, 'web/AVKIT': 1 });
    await expectConsistent(defined);
    // a sale of a component: the kit follows
    expect((await api().reserve({ orderRef: 'av8-1', channel: 'b2b', lines: [{ sku: 'AV9', qty: 2 }] })).status).toBe(201);
    tick();
    await pass(a);
    const sold = await newChanges('AVKIT');
    expect(figures(sold)).toEqual({ '*/AVKIT': 0, 'b2b/AVKIT': 2, 'web/AVKIT': 0 });
    await expectConsistent(sold);
    // removed: GET /v1/atp answers it as a SKU without stock (0)
    expect((await api().call('DELETE', '/v1/kits/AVKIT')).status).toBe(204);
    tick();
    await pass(a);
    const removed = await newChanges('AVKIT');
    expect(figures(removed)).toEqual({ 'b2b/AVKIT': 0 });
    await expectConsistent(removed);
  });

  it('channel keys read the availability of their own channels; the feed refuses unknown types', async () => {
    await api().setStock('AV7', 'DC1', 11);
    tick();
    await pass(a);
    await settled(sql);
    const read = async (key: string) => {
      const r = await client(a.app, key).call('GET', '/v1/events?type=availability.changed&limit=1000');
      expect(r.status).toBe(200);
      return (r.body.events as CloudEvent[]).map((e) => e.data as Change);
    };
    const web = await read(WEB);
    expect(web.length).toBeGreaterThan(0);
    expect(web.every((d) => d.channel === 'web')).toBe(true);
    expect(web.some((d) => d.sku === 'AV7')).toBe(true);
    expect((await read(B2B)).every((d) => d.channel === 'b2b')).toBe(true);
    const bad = await api().call('GET', '/v1/events?type=availability.changd');
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('query.type');
    // other types still come unfiltered without `type`, and a list of types works
    const both = await api().call('GET', '/v1/events?type=inventory.adjusted,availability.changed&limit=1000');
    expect(new Set((both.body.events as CloudEvent[]).map((e) => e.type))).toEqual(new Set(['inventory.adjusted', 'availability.changed']));
  });

  it('the relay publishes them to the stream as CloudEvents with the versioned dataschema', async () => {
    const stream = `atp:test:avail:${randomBytes(4).toString('hex')}`;
    const redis = new Redis(SHARED_REDIS);
    await redis.ping();
    try {
      const relay = new OutboxRelay({ db: a.database.db, redis, stream, maxLen: 100_000 });
      await relay.drain();
      const entries = await redis.xrange(stream, '-', '+');
      const avail = entries.map(([, f]) => f).filter((f) => f[f.indexOf('type') + 1] === 'availability.changed');
      expect(avail.length).toBeGreaterThan(0);
      for (const f of avail) {
        const e = CloudEvent.parse(JSON.parse(f[f.indexOf('event') + 1]!));
        expect(e.dataschema).toMatch(/#\/\$defs\/availability\.changed\.v1$/);
        parseEventData(e.type, e.data);
      }
      await relay.stop(0);
    } finally {
      await redis.del(stream);
      redis.disconnect();
    }
  });
});
