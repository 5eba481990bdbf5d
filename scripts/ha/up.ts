/**
 * `npm run ha:up`: start the whole HA topology on this machine as processes (no containers), on
 * ports found free and in a fresh temporary directory, then print the settings to use:
 *   Postgres 15 + pg_auto_failover: monitor, primary, two standbys, number_sync_standbys = 1;
 *   pgBackRest: WAL archiving to a local repository, stanza created and checked;
 *   Redis: master, replica, three sentinels.
 * Pids, ports and directories go to $TMPDIR/atp-ha/state.json as they start; `npm run ha:down`
 * stops them. If anything fails (or on Ctrl-C), what was started is stopped before exiting 1.
 * Missing packages: exits 2 with the apt-get command that installs them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DB_NAME, DB_USER, SENTINEL_NAME, STANZA, abortStarts, alive, freePorts, logger, readState, requireTools, stateFile, writeState, type HaState } from './lib.js';
import { backrestConfig, monitorUri, startPostgres } from './postgres.js';
import { DOWN_AFTER_MS, startRedis } from './redis.js';
import { stopAll } from './stop.js';

requireTools();
const previous = readState();
if (previous) {
  if (previous.procs.some((p) => alive(p.pid))) {
    console.error(`ha:up: a topology is already running (${stateFile()}); run npm run ha:down first`);
    process.exit(1);
  }
  console.log(`ha:up: removing a stale state file (${previous.baseDir}, no process alive)`);
  await stopAll(previous, () => {});
}

const log = logger('ha:up');
const ports = await freePorts(10);
const state: HaState = {
  startedAt: new Date().toISOString(),
  baseDir: mkdtempSync(path.join(process.env.TMPDIR || tmpdir(), 'atp-ha-')),
  ports: {
    monitor: ports[0]!,
    pg: ports.slice(1, 4),
    redisMaster: ports[4]!,
    redisReplica: ports[5]!,
    sentinels: ports.slice(6, 9),
  },
  procs: [],
};
writeState(state);
log(`base directory ${state.baseDir}`);

// the first failure (or signal) stops everything; a later one (e.g. the other half of the
// topology failing because of the stop) waits for that stop instead of exiting under it
let stopping: Promise<void> | undefined;
async function fail(reason: string): Promise<never> {
  if (!stopping) {
    console.error(`ha:up: ${reason}\nha:up: stopping what was started (logs are lost unless ATP_HA_KEEP=1)`);
    stopping = abortStarts()
      .then(() => stopAll(state, (m) => console.error(m)))
      .catch((e: Error) => console.error(`ha:up: ${e.message}`));
  }
  await stopping;
  process.exit(1);
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void fail(`interrupted (${sig})`));

try {
  await Promise.all([startPostgres(state, log), startRedis(state, log)]);
} catch (e) {
  await fail((e as Error).message);
}
if (stopping) await fail('interrupted');

const host = (p: number) => `127.0.0.1:${p}`;
const settings: Record<string, string> = {
  DATABASE_URL: `postgres://${DB_USER}@${state.ports.pg.map(host).join(',')}/${DB_NAME}?target_session_attrs=read-write`,
  REDIS_SENTINELS: state.ports.sentinels.map(host).join(','),
  REDIS_SENTINEL_NAME: SENTINEL_NAME,
  PG_AUTOCTL_MONITOR: monitorUri(state),
  PGBACKREST_CONFIG: backrestConfig(state),
  PGBACKREST_STANZA: STANZA,
};
state.settings = settings;
writeState(state);
const envFile = path.join(state.baseDir, 'ha.env');
writeFileSync(envFile, Object.entries(settings).map(([k, v]) => `${k}=${v}\n`).join(''));

log('topology up');
console.log(`
# settings (also in ${envFile}; load with: set -a; . ${envFile}; set +a)
${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join('\n')}

# Postgres nodes ${state.ports.pg.join(', ')} (monitor ${state.ports.monitor}); sync: ANY 1 of the 2 standbys
# Redis master ${state.ports.redisMaster}, replica ${state.ports.redisReplica}, sentinels ${state.ports.sentinels.join(', ')} (down-after ${DOWN_AFTER_MS} ms)
# state:   runuser -u postgres -- pg_autoctl show state --monitor '${settings.PG_AUTOCTL_MONITOR}'   (as the postgres user)
# backup:  runuser -u postgres -- pgbackrest --config=${settings.PGBACKREST_CONFIG} --stanza=${STANZA} --type=full backup
# stop:    npm run ha:down
`);
process.exit(0);
