/**
 * `npm run test:ha:smoke` (opt-in, not in `npm test`; needs root and the packages ha:up names):
 * ha:up, then through the settings it prints and the service's own config and Redis factory —
 *   postgres.js on the multi-host DATABASE_URL (hosts listed standby-first, so the
 *   target_session_attrs choice is what lands on the primary) writes and reads a row, which then
 *   shows up on a standby; the primary reports its synchronous standbys;
 *   ioredis through the sentinels writes and reads a key on the master;
 *   the monitor (`pg_autoctl show state`) reports one primary, two secondaries, number_sync_standbys 1;
 *   pgBackRest takes a full backup;
 * then ha:down, and checks that none of the processes is left. Exit 1 on any failure.
 */
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { createRedis, describeRedis, redisTarget } from '../../src/redis-connection.js';
import { alive, logger, psql, readState, runScript, waitFor, type HaState } from './lib.js';
import { autoctl, backrest, showState } from './postgres.js';

const say = logger('smoke');

let state: HaState | undefined;
let failed = false;
try {
  const upMs = runScript('up');
  state = readState();
  if (!state?.settings) throw new Error('ha:up left no settings in its state file');
  const s = state.settings;
  say(`ha:up took ${(upMs / 1000).toFixed(1)} s`);

  // --- Postgres through the multi-host URL, as the service would open it
  const [primaryHost, ...standbyHosts] = s.DATABASE_URL!.slice(s.DATABASE_URL!.indexOf('@') + 1).split('/')[0]!.split(',');
  const standbyFirst = s.DATABASE_URL!.replace(/@[^/]+\//, `@${[...standbyHosts, primaryHost].join(',')}/`);
  const config = loadConfig({ DATABASE_URL: standbyFirst, REDIS_SENTINELS: s.REDIS_SENTINELS, REDIS_SENTINEL_NAME: s.REDIS_SENTINEL_NAME });
  say(`DATABASE_URL (standby first) ${standbyFirst}\n  → config hands postgres.js ${config.DATABASE_URL}`);
  const sql = postgres(config.DATABASE_URL!, { max: 2, connect_timeout: 5, onnotice: () => {} });
  const [where] = await sql<{ port: number; recovery: boolean }[]>`select inet_server_port() as port, pg_is_in_recovery() as recovery`;
  if (where!.recovery || `127.0.0.1:${where!.port}` !== primaryHost) throw new Error(`postgres.js opened ${where!.port} (in recovery: ${where!.recovery}), not the primary ${primaryHost}`);
  say(`postgres.js connected to the primary ${primaryHost} (in recovery: false)`);
  await sql`create table if not exists ha_smoke (id int primary key, note text not null, at timestamptz not null default now())`;
  const written = await sql`insert into ha_smoke (id, note) values (1, 'acknowledged on two nodes') on conflict (id) do update set note = excluded.note returning id, note`;
  const [read] = await sql<{ note: string }[]>`select note from ha_smoke where id = 1`;
  if (written.count !== 1 || read?.note !== 'acknowledged on two nodes') throw new Error('write/read through postgres.js failed');
  const repl = await sql<{ application_name: string; sync_state: string }[]>`select application_name, sync_state from pg_stat_replication order by 1`;
  const names = (await sql<{ synchronous_standby_names: string }[]>`show synchronous_standby_names`)[0]!.synchronous_standby_names;
  await sql.end();
  say(`wrote and read ha_smoke row 1; synchronous_standby_names = ${names}; pg_stat_replication: ${repl.map((r) => `${r.application_name}=${r.sync_state}`).join(', ')}`);
  if (repl.filter((r) => r.sync_state === 'quorum' || r.sync_state === 'sync').length < 2) throw new Error('expected two synchronous (quorum) standbys');
  for (const h of standbyHosts) {
    const port = Number(h.split(':')[1]);
    const note = await waitFor(`the row on standby ${h}`, 5000, async () => (await psql(port, 'atp', 'atp', 'select note from ha_smoke where id = 1')) || undefined, 100);
    say(`standby ${h} has the row ("${note}")`);
  }
  // the pitfall the config works around: postgres.js's own read-write test accepts a hot standby
  const raw = postgres(standbyFirst, { max: 1, connect_timeout: 5 });
  const [rawWhere] = await raw<{ port: number; recovery: boolean }[]>`select inet_server_port() as port, pg_is_in_recovery() as recovery`;
  await raw.end();
  say(`(for comparison, raw postgres.js with target_session_attrs=read-write opened ${rawWhere!.port}, in recovery: ${rawWhere!.recovery})`);

  // --- Redis through the sentinels, with the service's factory
  const target = redisTarget(config)!;
  const redis = createRedis(target, { connectionName: 'atp-ha-smoke', maxRetriesPerRequest: 1 });
  await redis.set('atp:ha:smoke', 'through sentinel', 'EX', 60);
  const value = await redis.get('atp:ha:smoke');
  const role = ((await redis.role()) as unknown[])[0];
  const masterPort = (redis as unknown as { stream?: { remotePort?: number } }).stream?.remotePort;
  redis.disconnect();
  if (value !== 'through sentinel' || role !== 'master' || masterPort !== state.ports.redisMaster) throw new Error(`redis: got ${value} from a ${role} on ${masterPort}`);
  say(`ioredis (${describeRedis(target)}) wrote and read a key on the master 127.0.0.1:${masterPort} (role ${role})`);

  // --- the monitor's view
  const nodes = await showState(state);
  const nss = await psql(state.ports.monitor, 'pg_auto_failover', 'autoctl_node', "select number_sync_standbys from pgautofailover.formation where formationid = 'default'");
  const primaries = nodes.filter((n) => n.current_group_state === 'primary').length;
  const secondaries = nodes.filter((n) => n.current_group_state === 'secondary').length;
  console.log(await autoctl(state, 'show', 'state', '--pgdata', path.join(state.baseDir, 'monitor')));
  console.log(await autoctl(state, 'show', 'settings', '--pgdata', path.join(state.baseDir, 'monitor')));
  say(`monitor: ${primaries} primary, ${secondaries} secondaries, number_sync_standbys = ${nss}`);
  if (primaries !== 1 || secondaries !== 2 || nss !== '1') throw new Error('expected 1 primary, 2 secondaries and number_sync_standbys 1');

  // --- a full backup into the pgBackRest repository
  const b0 = Date.now();
  await backrest(state, '--type=full', 'backup');
  const info = await backrest(state, 'info');
  say(`pgBackRest full backup in ${((Date.now() - b0) / 1000).toFixed(1)} s:\n${info.trim().split('\n').filter((l) => /status|wal archive|full backup|timestamp/.test(l)).join('\n')}`);
} catch (e) {
  failed = true;
  console.error(`smoke FAILED: ${(e as Error).message}`);
} finally {
  if (readState()) {
    const downMs = runScript('down');
    say(`ha:down took ${(downMs / 1000).toFixed(1)} s`);
  }
  const left = state?.procs.filter((p) => alive(p.pid)) ?? [];
  if (left.length) {
    failed = true;
    console.error(`left running: ${left.map((p) => `${p.name} (${p.pid})`).join(', ')}`);
  } else say(`none of the ${state?.procs.length ?? 0} processes is left`);
}
say(failed ? 'smoke FAILED' : 'smoke passed');
process.exit(failed ? 1 : 0);
