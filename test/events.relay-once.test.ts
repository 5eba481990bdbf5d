/**
 * Invariant proven (real Postgres, real Redis): a relay pass publishes each settled outbox row
 * once and marks it, so once every row is published a further pass publishes nothing; the
 * stream then holds exactly one entry per row, in (txid, id) order. Pass by pass with publishOnce
 * (rows of transactions newer than the oldest one running anywhere on the shared cluster wait
 * for a later pass: the loop polls until none is left, bounded), so a relay that forgets to mark
 * rows or publishes a row twice fails here (the `relay-no-mark` and `relay-xadd-twice` deliberate
 * breaks) without a traffic test waiting out its timeout.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { OutboxRelay } from '../src/events/relay.js';
import { serviceFixture } from './helpers/service.js';
import { unpublished as countUnpublished } from './helpers/outbox.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const t = serviceFixture();

it('each pass publishes the settled rows once and marks them; the next pass publishes nothing', async () => {
  for (const [i, loc] of ['DC1', 'DC2', 'DC3'].entries()) expect((await t.api.setStock(`ONCE-${i}`, loc, 5)).status).toBe(200);
  const rows = (await t.sql<{ event_id: string }[]>`select event_id from outbox o where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c) order by txid, id`).map((r) => r.event_id);
  expect(rows).toHaveLength(3);
  const stream = `test:atp-events:${randomBytes(6).toString('hex')}`;
  const redis = new Redis(REDIS_URL);
  const relay = new OutboxRelay({ db: t.svc.database.db, redis, stream, maxLen: 1000, batchSize: 2 });
  try {
    await redis.ping();
    const unpublished = () => countUnpublished(t.sql);
    let published = 0;
    const bound = Date.now() + 30_000; // a guard against a hang, not a measure
    while ((await unpublished()) > 0) {
      const r = await relay.publishOnce();
      expect(r.leader).toBe(true);
      expect(r.published).toBeLessThanOrEqual(2); // batchSize
      published += r.published;
      expect(published, 'rows published so far never exceed the rows written').toBeLessThanOrEqual(3);
      if (Date.now() > bound) throw new Error(`rows still unpublished after 30 s (${published} published)`);
      if (r.published === 0) await new Promise((res) => setTimeout(res, 10));
    }
    expect(published).toBe(3);
    expect(await relay.publishOnce()).toEqual({ leader: true, published: 0 });
    const ids = (await redis.xrange(stream, '-', '+')).map(([, f]) => f[f.indexOf('id') + 1]);
    expect(ids).toEqual(rows);
    expect(relay.status().published).toBe(3);
  } finally {
    await redis.del(stream);
    await relay.stop(0);
    redis.disconnect();
  }
});
