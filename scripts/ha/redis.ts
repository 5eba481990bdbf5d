/**
 * The Redis half of the local HA topology: a master, a replica and three sentinels
 * (`redis-server --sentinel`, quorum 2), each a redis-server process with its config file, data
 * directory and log under the temporary directory, bound to 127.0.0.1 on a free port.
 *
 * Sentinel timing, for the 10 s recovery target after a master is killed: the master is judged
 * down after DOWN_AFTER_MS without a reply (2 s), the sentinels agree and promote the replica
 * (~1 s), and clients that connect through the sentinels (ioredis `sentinels` + `name`) follow
 * the `+switch-master` announcement, so writes resume about 3–4 s after the kill.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SENTINEL_NAME, run, startDetached, waitFor, writeState, type HaState } from './lib.js';

/** a master silent this long is subjectively down (sentinel down-after-milliseconds) */
export const DOWN_AFTER_MS = 2000;
/** a failover that has not finished in this long is retried by another sentinel */
export const FAILOVER_TIMEOUT_MS = 10_000;

export const redisCli = (port: number, ...args: string[]) =>
  run(['redis-cli', '-h', '127.0.0.1', '-p', String(port), ...args], { timeoutMs: 5000 }).then((s) => s.trim());

function server(s: HaState, name: string, port: number, extra: string[]): void {
  const dir = path.join(s.baseDir, 'redis', name);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'protected-mode yes',
      'daemonize no',
      `dir ${dir}`,
      `logfile ""`,
      'appendonly yes',
      'appendfsync everysec',
      'save ""',
      ...extra,
      '',
    ].join('\n'),
  );
  const args = extra.some((l) => l.startsWith('sentinel ')) ? [conf, '--sentinel'] : [conf];
  s.procs.push(startDetached(`redis:${name}`, ['redis-server', ...args], path.join(dir, `${name}.log`)));
  writeState(s);
}

export async function startRedis(s: HaState, log: (m: string) => void): Promise<void> {
  const { redisMaster, redisReplica, sentinels } = s.ports;
  server(s, 'master', redisMaster, []);
  server(s, 'replica', redisReplica, [`replicaof 127.0.0.1 ${redisMaster}`]);
  await waitFor('the Redis replica in sync', 30_000, async () =>
    (await redisCli(redisReplica, 'info', 'replication')).includes('master_link_status:up') ? true : undefined);
  sentinels.forEach((port, i) =>
    server(s, `sentinel${i + 1}`, port, [
      `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${redisMaster} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} ${DOWN_AFTER_MS}`,
      `sentinel failover-timeout ${SENTINEL_NAME} ${FAILOVER_TIMEOUT_MS}`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
    ]),
  );
  // every sentinel knows the master, the replica and the two other sentinels
  await waitFor('three sentinels that see each other and the replica', 30_000, async () => {
    for (const port of sentinels) {
      const master = await redisCli(port, 'sentinel', 'master', SENTINEL_NAME);
      const fields = master.split('\n');
      const get = (k: string) => fields[fields.indexOf(k) + 1];
      if (get('num-other-sentinels') !== '2' || get('num-slaves') !== '1') return undefined;
    }
    return true;
  }, 500);
  log(`redis master ${redisMaster}, replica ${redisReplica}, sentinels ${sentinels.join(', ')} (down-after ${DOWN_AFTER_MS} ms)`);
}
