/**
 * src/redis-connection.ts: the one place ioredis clients are made from the configuration — a URL,
 * or the sentinels and master name (with failover detection and READONLY reconnects). No server
 * is needed: clients are made with lazyConnect and only their options are read.
 */
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createRedis, describeRedis, redisTarget } from '../src/redis-connection.js';

it('no Redis configured → no target; REDIS_URL → the URL (password kept out of the description)', () => {
  expect(redisTarget(loadConfig({}))).toBeUndefined();
  const target = redisTarget(loadConfig({ REDIS_URL: 'redis://:secret@cache:6380/2' }))!;
  expect(target).toEqual({ kind: 'url', url: 'redis://:secret@cache:6380/2' });
  expect(describeRedis(target)).toBe('redis://cache:6380/2');
  const client = createRedis(target, { lazyConnect: true, connectionName: 'atp-test' });
  expect([client.options.host, client.options.port, client.options.db, client.options.connectionName]).toEqual(['cache', 6380, 2, 'atp-test']);
  client.disconnect();
});

it('REDIS_SENTINELS → a client that finds the master through the sentinels; the caller’s options on top', () => {
  const target = redisTarget(loadConfig({ REDIS_SENTINELS: 's1:26379,s2:26380', REDIS_SENTINEL_NAME: 'atp' }))!;
  expect(describeRedis(target)).toBe('sentinel master "atp" via s1:26379,s2:26380');
  const client = createRedis(target, { lazyConnect: true, enableOfflineQueue: false, connectTimeout: 1000 });
  const o = client.options;
  expect(o.sentinels).toEqual([{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }]);
  expect([o.name, o.role, o.failoverDetector, o.enableOfflineQueue, o.connectTimeout]).toEqual(['atp', 'master', true, false, 1000]);
  expect(o.reconnectOnError?.(new Error("READONLY You can't write against a read only replica."))).toBe(2);
  expect(o.reconnectOnError?.(new Error('ERR wrong number of arguments'))).toBe(false);
  client.disconnect();
});
