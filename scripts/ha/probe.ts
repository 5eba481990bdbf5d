/**
 * One failover, timed, on a running `npm run ha:up` topology (no load; the failover rounds under
 * load are issue 19's next step):
 *   npx tsx scripts/ha/probe.ts redis       SIGKILL the Redis master; time to the first SET
 *                                           through the sentinels (src/redis-connection.ts)
 *   npx tsx scripts/ha/probe.ts pg          SIGKILL the primary's postmaster (its keeper lives)
 *   npx tsx scripts/ha/probe.ts pg node     SIGKILL the primary's whole node (keeper + Postgres)
 * The Postgres probes retry an INSERT through the service's DATABASE_URL handling (one
 * connection, 3 s client-side bound per attempt) and print the errors seen, counted.
 * It leaves the topology degraded: `npm run ha:down` and `ha:up` again before the next probe.
 */
import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { createRedis, redisTarget } from '../../src/redis-connection.js';
import { runningState } from './lib.js';

const state = runningState();
if (!state) {
  console.error('probe: no topology running (npm run ha:up first)');
  process.exit(2);
}
const s = state.settings;
const config = loadConfig({ DATABASE_URL: s.DATABASE_URL, REDIS_SENTINELS: s.REDIS_SENTINELS, REDIS_SENTINEL_NAME: s.REDIS_SENTINEL_NAME });
const t0 = Date.now();
const at = () => `${((Date.now() - t0) / 1000).toFixed(2)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('client-side timeout')), ms))]);
const errors = new Map<string, number>();
const count = (e: unknown) => {
  const m = (e as Error).message.slice(0, 70);
  errors.set(m, (errors.get(m) ?? 0) + 1);
};

if (process.argv[2] === 'redis') {
  const redis = createRedis(redisTarget(config)!, {
    maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 500, commandTimeout: 500,
    retryStrategy: (n) => Math.min(n * 100, 1000),
  });
  redis.on('error', () => {});
  await new Promise((r) => redis.once('ready', r));
  const master = state.procs.find((p) => p.name === 'redis:master')!;
  process.kill(master.pid, 'SIGKILL');
  console.log(`${at()}: SIGKILL redis master (pid ${master.pid}, port ${state.ports.redisMaster})`);
  for (;;) {
    try {
      await redis.set('atp:ha:probe', String(Date.now()));
      const port = (redis as unknown as { stream?: { remotePort?: number } }).stream?.remotePort;
      console.log(`${at()}: SET ok on 127.0.0.1:${port}; errors: ${JSON.stringify([...errors])}`);
      break;
    } catch (e) {
      count(e);
      await sleep(100);
    }
  }
  redis.disconnect();
} else if (process.argv[2] === 'pg') {
  const sql = postgres(config.DATABASE_URL!, { max: 1, connect_timeout: 2, backoff: () => 0.2, onnotice: () => {} });
  const alive = setInterval(() => {}, 1000); // a query postgres.js loses must not end the process
  await sql`create table if not exists ha_probe (id serial primary key, at timestamptz not null default now())`;
  const port = (await sql<{ port: number }[]>`select inet_server_port() as port`)[0]!.port;
  const i = state.ports.pg.indexOf(Number(port));
  if (process.argv[3] === 'node') {
    const keeper = state.procs.find((p) => p.name === `pg:node${i + 1}`)!;
    process.kill(-keeper.pid, 'SIGKILL');
    console.log(`${at()}: SIGKILL node${i + 1} (keeper ${keeper.pid} and its Postgres; the primary, port ${port})`);
  } else {
    const pm = Number(readFileSync(`${state.baseDir}/node${i + 1}/postmaster.pid`, 'utf8').split('\n')[0]);
    process.kill(pm, 'SIGKILL');
    console.log(`${at()}: SIGKILL postmaster ${pm} of node${i + 1} (the primary, port ${port}; its keeper lives)`);
  }
  for (;;) {
    try {
      const [row] = await within(sql<{ port: number }[]>`insert into ha_probe default values returning inet_server_port() as port`, 3000);
      console.log(`${at()}: INSERT ok on 127.0.0.1:${row!.port}; errors: ${JSON.stringify([...errors])}`);
      break;
    } catch (e) {
      count(e);
      if (Date.now() - t0 > 120_000) {
        console.log(`${at()}: gave up; errors: ${JSON.stringify([...errors])}`);
        break;
      }
      await sleep(200);
    }
  }
  clearInterval(alive);
  await sql.end({ timeout: 1 }).catch(() => {});
} else {
  console.error('usage: npx tsx scripts/ha/probe.ts redis | pg [node]');
  process.exit(2);
}
process.exit(0);
