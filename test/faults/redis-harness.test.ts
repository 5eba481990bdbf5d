/**
 * The private-Redis harness that `redis.test.ts` (the Redis fault test) relies on: a private
 * server on its own port that can be killed (clients fail fast) and brought back — empty by
 * default; `redis.test.ts` uses `{ persist: true }` (append-only file) so it restarts with its data.
 */
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { type PrivateRedis, startPrivateRedis } from './helpers/private-redis.js';

let redis: PrivateRedis | undefined;
let client: Redis | undefined;
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

it('a private redis-server can be killed and restarted on the same port; clients see the outage and reconnect', async () => {
  redis = await startPrivateRedis();
  expect(redis.port).not.toBe(6379);
  client = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => 50, enableOfflineQueue: false, lazyConnect: true });
  client.on('error', () => {}); // the outage below is deliberate
  await client.connect();
  await client.set('harness', '1');
  expect(await client.get('harness')).toBe('1');

  await redis.stop();
  await expect(client.get('harness')).rejects.toThrow();

  await redis.start();
  for (let i = 0; i < 100 && client.status !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50));
  // a fresh server without persistence: the outage lost the data
  expect(await client.get('harness')).toBeNull();
});
