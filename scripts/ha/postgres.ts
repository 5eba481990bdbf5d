/**
 * The Postgres half of the local HA topology: a pg_auto_failover monitor, a primary and two
 * standbys (all `pg_autoctl ... --run` keepers running as the `postgres` user), synchronous
 * replication with number_sync_standbys = 1 (`ANY 1 (standby_2, standby_3)`: an acknowledged
 * commit is on two nodes, and stays synchronous when one standby is missing), and pgBackRest with
 * WAL archiving to a repository in the temporary directory.
 *
 * The primary's data directory is made with initdb here (so archive_mode/archive_command are in
 * its postgresql.conf before it first starts); pg_autoctl registers it as it is, and the standbys
 * inherit the settings through their base backup, so whichever node is promoted archives to the
 * same repository.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  DB_NAME, DB_USER, PG_BIN, STANZA, asPostgres, pgEnv, psql, run, startDetached, waitFor, writeState,
  type HaState,
} from './lib.js';

export const backrestConfig = (s: HaState) => path.join(s.baseDir, 'pgbackrest', 'pgbackrest.conf');
export const nodeDir = (s: HaState, i: number) => path.join(s.baseDir, `node${i + 1}`);
export const monitorUri = (s: HaState) => `postgres://autoctl_node@127.0.0.1:${s.ports.monitor}/pg_auto_failover?sslmode=disable`;

/** `pgbackrest --config=… --stanza=atp <args>` as the postgres user */
export const backrest = (s: HaState, ...args: string[]) =>
  run(asPostgres(['pgbackrest', `--config=${backrestConfig(s)}`, `--stanza=${STANZA}`, ...args]), { timeoutMs: 300_000 });

/** `pg_autoctl <args>` as the postgres user, with the topology's XDG directories */
export const autoctl = (s: HaState, ...args: string[]) => run(asPostgres(['pg_autoctl', ...args]), { env: pgEnv(s.baseDir), timeoutMs: 30_000 });

const COMMON = ['--auth', 'trust', '--no-ssl', '--hostname', '127.0.0.1', '--pgctl', `${PG_BIN}/pg_ctl`];

/**
 * Failover timing for the 30 s target. pg_auto_failover's defaults took 53 s from a SIGKILL of a
 * whole primary node (keeper and Postgres) to the first write on the new primary: ≈ 20 s before
 * the monitor judges the node unhealthy, then primary_demote_timeout (30 s) during which the
 * promoted node stays read-only in case the old primary is only partitioned.
 *
 * Where a failover's time goes (pg_auto_failover 2.0 source and the keepers' logs, 2026-11-29):
 * detection — no keeper report for node_considered_unhealthy_timeout plus a failed health check,
 * seen at the next node_active call (≈ 6–7 s); report_lsn — each standby's keeper rewrites its
 * recovery settings without primary_conninfo and RESTARTS its Postgres (fast shutdown, start,
 * WAL replay from the last restartpoint), then reports its LSN; the monitor chooses a candidate
 * only when every quorum standby has reported; prepare_promotion — a no-op in 2.0
 * (fsm_prepare_standby_for_promotion; `timeout.prepare_promotion_walreceiver` and
 * `timeout.prepare_promotion_catchup` are read but unused); the candidate reaching it starts the
 * demote timeout (the old primary's goal demote_timeout); stop_replication — the candidate sets
 * default_transaction_read_only = on and promotes, inside that timeout; when it is over, the next
 * node_active call of the candidate gets wait_primary and its keeper makes it writable. Each step
 * costs up to one keeper loop (1 s, compiled in). The keeper timeouts that could look relevant do
 * not act on this path: `timeout.postgresql_restart_failure_timeout` only when Postgres fails to
 * start, `listen_notifications_timeout` only for CLI commands that wait. So the only wait that is
 * pure waiting when the old primary is dead is primary_demote_timeout.
 *
 * Why shortening it is safe: (1) synchronous replication, ANY 1 of the two standbys. A commit on
 * the old primary is acknowledged only once a standby has it; every quorum standby disconnects
 * from the old primary (report_lsn) before the monitor chooses a candidate, and no standby
 * reconnects to it. So from the choice on, the old primary can acknowledge no commit, however long
 * it stays up — statement_timeout does not end a commit's wait for the standby
 * (test/db.sync-commit-wait.test.ts) and the service sends no cancel. (2) The order of the two
 * timeouts, which bounds how long an old primary cut off from monitor and standbys keeps serving
 * at all (reads, sessions): its keeper demotes it once it has reached neither for more than
 * network_partition_timeout — measured from the last standby contact, which is when the standbys
 * restarted in report_lsn, just before the demote timeout starts; the keeper checks once a loop
 * (≈ 1 s, ≈ 3 s when the monitor is unreachable: a 2 s connect timeout) and compares integer
 * seconds, so it acts up to ≈ 4–6 s after the timeout. Hence primary_demote_timeout must exceed
 * network_partition_timeout by that much: 6 s and 2 s keep the 4 s margin of the earlier 8 s / 4 s
 * (and 12 s / 8 s). The cost of a lower partition timeout is availability, not safety: a primary
 * that loses the monitor and both standbys for more than 2 s shuts down.
 *
 * Not lowered: detection (node_considered_unhealthy_timeout 6 s; lower, a keeper stalled on a busy
 * host plus a failed health check would fail over a healthy primary) and the health checks (a
 * shorter health_check_timeout marks standbys unhealthy on a busy host, and a primary without a
 * healthy synchronous standby is sent to wait_primary, synchronous replication off).
 *
 * Measured with 8 s / 4 s (runs 5–11, docs/RELIABILITY.md, a loaded 2-core box): 22.1–34.7 s to
 * the first reservation, the 30 s target missed in 6 of 42 Postgres faults. 6 s / 2 s: runs 12–14.
 */
export const MONITOR_TIMING: Record<string, number> = {
  'pgautofailover.health_check_period': 2000,
  'pgautofailover.health_check_timeout': 2000,
  'pgautofailover.health_check_max_retries': 1,
  'pgautofailover.health_check_retry_delay': 1000,
  'pgautofailover.node_considered_unhealthy_timeout': 6000,
  'pgautofailover.primary_demote_timeout': 6000,
};
/** keeper side, seconds; below primary_demote_timeout (6 s) by 4 s (the comment above) */
export const NETWORK_PARTITION_TIMEOUT_S = 2;

function writeBackrestConfig(s: HaState): void {
  const dir = path.join(s.baseDir, 'pgbackrest');
  for (const d of ['repo', 'log', 'lock', 'spool']) mkdirSync(path.join(dir, d), { recursive: true });
  const pgs = s.ports.pg.flatMap((port, i) => [
    `pg${i + 1}-path=${nodeDir(s, i)}`,
    `pg${i + 1}-port=${port}`,
    `pg${i + 1}-socket-path=${path.join(s.baseDir, 'sock')}`,
  ]);
  writeFileSync(
    backrestConfig(s),
    [
      '[global]',
      `repo1-path=${path.join(dir, 'repo')}`,
      'repo1-retention-full=2',
      `log-path=${path.join(dir, 'log')}`,
      `lock-path=${path.join(dir, 'lock')}`,
      `spool-path=${path.join(dir, 'spool')}`,
      'log-level-console=warn',
      'log-level-file=info',
      'start-fast=y',
      'compress-type=lz4',
      '',
      `[${STANZA}]`,
      ...pgs,
      '',
    ].join('\n'),
  );
}

/** Monitor state as `pg_autoctl show state --json` reports it */
export interface NodeState {
  nodename: string;
  nodeport: number;
  current_group_state: string;
  assigned_group_state: string;
  health: number;
  reported_lsn: string;
  reported_tli: number;
}

export async function showState(s: HaState): Promise<NodeState[]> {
  const out = await autoctl(s, 'show', 'state', '--json', '--pgdata', path.join(s.baseDir, 'monitor'));
  return JSON.parse(out) as NodeState[];
}

/** A primary (reported = assigned = primary) and `standbys` secondaries, all settled. */
export async function settled(s: HaState, standbys: number): Promise<NodeState[] | undefined> {
  const nodes = await showState(s);
  const steady = nodes.filter((n) => n.current_group_state === n.assigned_group_state);
  const primary = steady.filter((n) => n.current_group_state === 'primary');
  const secondaries = steady.filter((n) => n.current_group_state === 'secondary');
  return primary.length === 1 && secondaries.length >= standbys ? nodes : undefined;
}

export async function startPostgres(s: HaState, log: (m: string) => void): Promise<void> {
  const env = pgEnv(s.baseDir);
  const sock = path.join(s.baseDir, 'sock');
  mkdirSync(sock, { recursive: true });
  mkdirSync(path.join(s.baseDir, 'xdg', 'run'), { recursive: true, mode: 0o700 });
  writeBackrestConfig(s);
  await run(['chown', '-R', 'postgres:postgres', s.baseDir]);

  // 1. the monitor: created, bound to 127.0.0.1 (pg_autoctl's default is every interface), run
  const monitorDir = path.join(s.baseDir, 'monitor');
  await run(asPostgres(['pg_autoctl', 'create', 'monitor', '--pgdata', monitorDir, '--pgport', String(s.ports.monitor), ...COMMON]), { env, timeoutMs: 120_000 });
  await autoctl(s, 'config', 'set', '--pgdata', monitorDir, 'postgresql.listen_addresses', '127.0.0.1');
  s.procs.push({
    ...startDetached('pg:monitor', asPostgres(['pg_autoctl', 'run', '--pgdata', monitorDir]), path.join(s.baseDir, 'monitor.log'), env),
    pgdata: monitorDir,
  });
  writeState(s);
  await waitFor('the monitor', 60_000, async () => ((await psql(s.ports.monitor, 'pg_auto_failover', 'autoctl_node', "select count(*) from pgautofailover.formation where formationid = 'default'")) === '1' ? true : undefined), 500);
  for (const [name, value] of Object.entries(MONITOR_TIMING))
    await psql(s.ports.monitor, 'pg_auto_failover', 'postgres', `alter system set ${name} = ${value}`);
  await psql(s.ports.monitor, 'pg_auto_failover', 'postgres', 'select pg_reload_conf()');
  log(`monitor up on ${s.ports.monitor}`);

  // 2. the primary: initdb here with archiving configured, then registered by pg_autoctl
  const primaryDir = nodeDir(s, 0);
  await run(asPostgres([`${PG_BIN}/initdb`, '-D', primaryDir, '--auth=trust', '-U', 'postgres', '--data-checksums']), { env });
  appendFileSync(
    path.join(primaryDir, 'postgresql.conf'),
    [
      '',
      '# --- atp-ha (scripts/ha/postgres.ts) ---',
      `unix_socket_directories = '${sock}'`,
      'archive_mode = on',
      `archive_command = 'pgbackrest --config=${backrestConfig(s)} --stanza=${STANZA} archive-push %p'`,
      'archive_timeout = 60',
      // a client whose primary vanished learns it from TCP keepalives, not after minutes
      'tcp_keepalives_idle = 10',
      'tcp_keepalives_interval = 5',
      'tcp_keepalives_count = 3',
      '',
    ].join('\n'),
  );
  const startNode = (i: number) => {
    const dir = nodeDir(s, i);
    s.procs.push({
      ...startDetached(
        `pg:node${i + 1}`,
        asPostgres([
          'pg_autoctl', 'create', 'postgres', '--pgdata', dir, '--pgport', String(s.ports.pg[i]), '--pghost', sock,
          '--listen', '127.0.0.1', '--name', `node${i + 1}`, '--username', DB_USER, '--dbname', DB_NAME,
          '--monitor', monitorUri(s), ...COMMON, '--run',
        ]),
        path.join(s.baseDir, `node${i + 1}.log`),
        env,
      ),
      pgdata: dir,
    });
    writeState(s);
  };
  startNode(0);
  await waitFor('the primary (state single)', 60_000, async () => {
    const nodes = await showState(s);
    return nodes.some((n) => n.current_group_state === 'single' && n.assigned_group_state === 'single') ? true : undefined;
  }, 500);
  log(`primary node1 up on ${s.ports.pg[0]}`);
  await backrest(s, 'stanza-create');
  log(`pgBackRest stanza "${STANZA}" created`);

  // 3. two standbys. pg_basebackup waits for a checkpoint that, by default, is spread over
  // checkpoint_timeout: ask for an immediate one while they wait.
  startNode(1);
  startNode(2);
  await waitFor('a primary and two secondaries', 180_000, async () => {
    const nodes = await settled(s, 2);
    if (!nodes) await psql(s.ports.pg[0]!, 'postgres', 'postgres', 'checkpoint').catch(() => undefined);
    return nodes;
  }, 1000);
  log(`standbys node2 (${s.ports.pg[1]}) and node3 (${s.ports.pg[2]}) streaming`);

  // keeper-side partition timeout, then a reload so the running keepers take it
  for (let i = 0; i < 3; i++) {
    await autoctl(s, 'config', 'set', '--pgdata', nodeDir(s, i), 'timeout.network_partition_timeout', String(NETWORK_PARTITION_TIMEOUT_S));
    await autoctl(s, 'reload', '--pgdata', nodeDir(s, i));
  }

  // 4. synchronous: one of the two standbys acknowledges every commit (ANY 1)
  await psql(s.ports.monitor, 'pg_auto_failover', 'autoctl_node', "select pgautofailover.set_formation_number_sync_standbys('default', 1)");
  await waitFor('synchronous_standby_names = ANY 1 (...)', 30_000, async () => {
    const v = await psql(s.ports.pg[0]!, 'postgres', 'postgres', 'show synchronous_standby_names');
    return v.startsWith('ANY 1 (') ? v : undefined;
  });
  // the outbox relay reads the standbys' flush positions in pg_stat_replication, which it sees
  // only with pg_monitor (src/events/sync-standby.ts; docs/OPERATIONS.md). Replicated to the standbys.
  await psql(s.ports.pg[0]!, 'postgres', 'postgres', `grant pg_monitor to ${DB_USER}`);
  await backrest(s, 'check');
  log('pgBackRest check passed (WAL archived from the primary)');
}
