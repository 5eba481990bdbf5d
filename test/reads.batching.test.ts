/**
 * Read batching and read load shedding (issue 15), on a real database:
 * - reads submitted together share one statement; reads that arrive while a statement is in
 *   flight never join it (they would miss a write acknowledged before they arrived): they share
 *   the next one, which sees the write;
 * - the read queue is bounded: past ATP_READ_QUEUE_MAX a read is refused at once, 429 overloaded
 *   with Retry-After;
 * - per-key rate limits answer 429 rate-limited naming the limit, for that key only, and refill
 *   with time (a test clock: no sleeping).
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { ReadStatement } from '../src/db/client.js';
import { Overloaded } from '../src/domain/errors.js';
import { statusOf } from '../src/http/problem.js';
import { ReadBatcher } from '../src/reads/batcher.js';
import { ReadRules } from '../src/reads/rules.js';
import { MemoryRulesStore } from '../src/rules/store.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';

const KEY_X = 'reads-key-x-000000000001';
const KEY_Y = 'reads-key-y-000000000002';
const ADMIN = 'reads-admin-00000000003';
const clock = new ManualClock();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: Service;
let sql: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_API_KEYS: `${ADMIN}=admin,${KEY_X}=oms,${KEY_Y}=oms`, ATP_READ_RATE_PER_KEY: '2', ATP_READ_RATE_BURST: '3' }),
    { sweeper: false, clock },
  );
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  expect((await client(svc.app, ADMIN).setStock('RB-1', 'DC1', 10)).status).toBe(200);
});
afterAll(async () => {
  await sql?.end();
  await svc?.stop();
  await db?.drop();
});

/** The read pool, with each statement's answer held until the test lets it go. */
function gated() {
  const held: (() => void)[] = [];
  let executed = 0;
  const waiters: (() => void)[] = [];
  const exec: ReadStatement = async (text, params) => {
    const res = await svc.database.readStatement(text, params);
    executed++;
    for (const w of waiters.splice(0)) w();
    await new Promise<void>((r) => held.push(r));
    return res;
  };
  return {
    exec,
    /** resolves once `n` statements have run at the server */
    executed: (n: number) => new Promise<void>((r) => (executed >= n ? r() : waiters.push(() => executed >= n && r()))),
    release: () => held.splice(0).forEach((r) => r()),
  };
}

const onHandIn = (r: Awaited<ReturnType<ReadBatcher['read']>>) => r.snapshot.slice(['RB-1']).positions[0]!.onHand;

it('reads that arrive while a statement is in flight share the next statement, and see what was written before they arrived', async () => {
  const g = gated();
  const batcher = new ReadBatcher({ exec: g.exec, rules: new ReadRules(new MemoryRulesStore()), concurrency: 1, maxQueue: 100, maxSkus: 1000 });
  const first = [batcher.read({ skus: ['RB-1'] }), batcher.read({ skus: ['RB-1', 'RB-2'] })];
  await g.executed(1);
  // acknowledged while statement 1 is in flight (it was taken before this)
  await sql`update positions set on_hand = 11 where sku = 'RB-1'`;
  const second = [batcher.read({ skus: ['RB-1'] }), batcher.read({ skus: ['RB-3'] }), batcher.read({ skus: ['RB-1'] })];
  g.release();
  const [f1, f2] = await Promise.all(first);
  expect(f1!.snapshot).toBe(f2!.snapshot); // submitted together: one statement
  expect(onHandIn(f1!)).toBe(10);
  // (a read that rode on statement 1 would be answered now, with the old figure)
  void g.executed(2).then(() => g.release());
  const [s1, s2, s3] = await Promise.all(second);
  expect(s1!.snapshot).toBe(s2!.snapshot);
  expect(s1!.snapshot).toBe(s3!.snapshot);
  expect(s1!.snapshot).not.toBe(f1!.snapshot);
  expect(onHandIn(s1!)).toBe(11);
  expect(batcher.statements).toBe(2);
  await sql`update positions set on_hand = 10 where sku = 'RB-1'`;
});

it('the read queue is bounded: past it a read is refused at once with 429 and Retry-After', async () => {
  const g = gated();
  const batcher = new ReadBatcher({ exec: g.exec, rules: new ReadRules(new MemoryRulesStore()), concurrency: 1, maxQueue: 2, maxSkus: 1000 });
  const inFlight = batcher.read({ skus: ['RB-1'] });
  await g.executed(1);
  const waiting = [batcher.read({ skus: ['RB-1'] }), batcher.read({ skus: ['RB-1'] })];
  const refused = await batcher.read({ skus: ['RB-1'] }).catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(Overloaded);
  expect(refused).toMatchObject({ code: 'overloaded', retryAfter: 1 });
  expect(refused instanceof Overloaded && statusOf(refused)).toBe(429);
  expect(batcher.depth).toMatchObject({ waiting: 2, inFlight: 1, shed: 1 });
  g.release();
  await inFlight;
  await g.executed(2);
  g.release();
  await Promise.all(waiting);
});

it('per-key rate limit: 429 rate-limited naming the limit for the key over it, not for others; refills with time', async () => {
  const x = client(svc.app, KEY_X);
  const y = client(svc.app, KEY_Y);
  for (let i = 0; i < 3; i++) expect((await x.atp(['RB-1'])).status).toBe(200);
  const over = await x.atp(['RB-1']);
  expect(over.status).toBe(429);
  expect(over.headers.get('retry-after')).toBe('1');
  expect(over.headers.get('content-type')).toBe('application/problem+json');
  expect(over.body).toMatchObject({ code: 'rate-limited', limit: 'ATP_READ_RATE_PER_KEY', perSecond: 2, burst: 3 });
  const promise = await x.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'RB-1', qty: 1 }] });
  expect(promise.status).toBe(429);
  expect((await y.atp(['RB-1'])).status).toBe(200);
  clock.advance(500); // one token back
  expect((await x.atp(['RB-1'])).status).toBe(200);
  expect((await x.atp(['RB-1'])).status).toBe(429);
});
