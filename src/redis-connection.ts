/**
 * How this instance reaches Redis, from the configuration: one server (REDIS_URL) or the master
 * that Sentinel names (REDIS_SENTINELS + REDIS_SENTINEL_NAME). Every ioredis client of the service
 * (rules store, its subscriber, outbox relay) is made here with its own options on top, so a
 * client follows a Sentinel failover the same way wherever it is used.
 *
 * Under Sentinel, ioredis asks the sentinels for the master's address on every (re)connect,
 * listens for `+switch-master` (failoverDetector) to drop a connection to a demoted master at
 * once, and reconnects when a command meets READONLY (a client still talking to a master that
 * became a replica).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.js';

export type RedisTarget =
  | { kind: 'url'; url: string }
  | { kind: 'sentinel'; sentinels: { host: string; port: number }[]; name: string };

/** Where Redis is, or undefined when the service runs without it (rules and events in process). */
export function redisTarget(config: Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>): RedisTarget | undefined {
  if (config.REDIS_SENTINELS && config.REDIS_SENTINEL_NAME)
    return { kind: 'sentinel', sentinels: config.REDIS_SENTINELS, name: config.REDIS_SENTINEL_NAME };
  if (config.REDIS_URL) return { kind: 'url', url: config.REDIS_URL };
  return undefined;
}

/** For logs: never the password of a URL. */
export function describeRedis(target: RedisTarget): string {
  if (target.kind === 'sentinel') return `sentinel master "${target.name}" via ${target.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`;
  const u = new URL(target.url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
}

/** The Sentinel part of the options; the caller's options come on top. */
export function sentinelOptions(target: Extract<RedisTarget, { kind: 'sentinel' }>): RedisOptions {
  return {
    sentinels: target.sentinels,
    name: target.name,
    role: 'master',
    // drop the connection to the old master as soon as a sentinel announces +switch-master
    failoverDetector: true,
    // every sentinel unreachable: ask again soon (ms), not after the default back-off
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    sentinelCommandTimeout: 1000,
    // a command that reached a demoted master: reconnect (through the sentinels) and resend it
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 2 : false),
  };
}

/**
 * A new ioredis client for the target with the caller's options (lazyConnect, timeouts, …).
 *
 * Under Sentinel the client never gives up by itself: ioredis 6 ends a sentinel client for good
 * (status `end`, no more reconnects) when `+switch-master` arrives while it is still reconnecting
 * after losing the old master — the failover detector closes the connector under the pending
 * connect, which then fails with "Connection is closed" and is taken for a deliberate close. Seen
 * in the failover rounds (`npm run test:ha`): the outbox relay stopped publishing after a Redis
 * master kill. Such an end is answered with a new connect; only `disconnect()`/`quit()` called
 * by the service end a client.
 */
export function createRedis(target: RedisTarget, options: RedisOptions = {}): Redis {
  if (target.kind === 'url') return new Redis(target.url, options);
  const client = new Redis({ ...sentinelOptions(target), ...options });
  let closing = false;
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    if (!reconnect) closing = true;
    disconnect(reconnect);
  };
  const quit = client.quit.bind(client);
  client.quit = ((...args: Parameters<Redis['quit']>) => {
    closing = true;
    return quit(...args);
  }) as Redis['quit'];
  client.on('end', () => {
    if (closing) return;
    setTimeout(() => {
      if (!closing && client.status === 'end') client.connect().catch(() => {});
    }, 100).unref();
  });
  return client;
}
