/**
 * The relay-cursor migration (drizzle/0007_relay_cursor.sql): outbox.published_at becomes one
 * cursor row. Published rows were a prefix of the (txid, id) order; the cursor starts at the last
 * published row before the first unpublished one, so no unpublished event is skipped (one
 * published after an unpublished one — never written by the relay — goes out again rather than be
 * lost). A relay pass after the migration publishes exactly the rows above the cursor, in order.
 */
import { randomBytes } from 'node:crypto';
import { drizzle } from 'drizzle-orm/postgres-js';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Db } from '../src/db/client.js';
import { OutboxRelay } from '../src/events/relay.js';
import { createTestDatabase } from './helpers/db.js';
import { migrateTo } from './helpers/migrations.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let sql: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
  await migrateTo(sql, 6);
});

afterAll(async () => {
  await sql?.end();
  await db?.drop();
});

it('the cursor starts at the last published row before the first unpublished one; a pass publishes the rest in order', async () => {
  // five events, each in its own transaction (ascending txids): published, published, published, NOT, published
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const [r] = await sql`insert into outbox (type, subject, data, published_at) values ('inventory.adjusted', ${`S-${i}`}, '{}'::jsonb, ${i === 3 ? null : new Date().toISOString()}::timestamptz) returning id::text`;
    ids.push(r!.id as string);
  }
  await migrateTo(sql);
  const [cursor] = await sql`select c.outbox_id::text as id, c.txid = o.txid as same_txid from relay_cursor c join outbox o on o.id = c.outbox_id`;
  expect(cursor).toEqual({ id: ids[2], same_txid: true });
  const [col] = await sql`select count(*)::int as n from information_schema.columns where table_name = 'outbox' and column_name = 'published_at'`;
  expect(col!.n).toBe(0);

  const pool = postgres(db.url, { max: 2, onnotice: () => {} });
  const redis = new Redis(REDIS_URL);
  const stream = `test:atp-mig:${randomBytes(6).toString('hex')}`;
  const relay = new OutboxRelay({ db: drizzle({ client: pool }) as unknown as Db, redis, stream, maxLen: 1000 });
  try {
    await redis.ping();
    expect(await relay.publishOnce()).toEqual({ leader: true, published: 2 });
    const entries = await redis.xrange(stream, '-', '+');
    expect(entries.map(([, f]) => f[f.indexOf('subject') + 1])).toEqual(['S-3', 'S-4']);
    expect(await relay.publishOnce()).toEqual({ leader: true, published: 0 });
    expect((await relay.lag()).unpublished).toBe(0);
  } finally {
    await redis.del(stream);
    redis.disconnect();
    await pool.end();
  }
});
