/**
 * `npm run test:ha` (opt-in; root and the packages `ha:up` names — it prints the apt-get line when
 * one is missing): failover rounds under load on the local HA topology.
 *
 * Starts `ha:up` (unless a topology is already running), the service as a child process on the
 * topology's settings (multi-host DATABASE_URL, Redis through the sentinels), and continuous load
 * from retrying clients (each operation keeps its Idempotency-Key and body until it gets a final
 * answer; test/faults/helpers/load.ts), plus one probe client whose attempts are timed. Then
 * ROUNDS rounds (default 3) of three faults, each started only when the monitor reports a primary
 * and the primary reports a streaming synchronous standby (and, for Redis, a master with a
 * replica in sync):
 *   pg-kill   SIGKILL the primary's whole node (keeper and Postgres); the node is restarted
 *             (`pg_autoctl run`) after the failover and rejoins as a standby;
 *   pg-stop   SIGSTOP the primary's whole node, SIGCONT once another node is primary: a primary
 *             that lost its role must acknowledge nothing after it is resumed;
 *   redis-kill SIGKILL the Redis master; restarted afterwards (the sentinels make it a replica).
 * Per fault: time from the fault to the first successful reservation (the probe's first 201 for a
 * request sent after the fault), to the first event on the stream (Redis), and what clients saw
 * (503 codes, connection errors, hangs). At the end: load stopped, outbox drained, then the
 * invariants straight from the tables: 0 acknowledged reservations lost or different, 0 oversold,
 * 0 doubled (duplicate Idempotency-Keys), every outbox event on the stream exactly once.
 * Report: .faults/report-ha.json; exit 1 on any violation. Run it alone:
 *   flock /tmp/atp-bench.lock npm run test:ha
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import postgres from 'postgres';
import { loadConfig } from '../../src/config.js';
import { createRedis, redisTarget } from '../../src/redis-connection.js';
import { writeFigures } from '../../test/faults/helpers/figures.js';
import { call } from '../../test/faults/helpers/http.js';
import { checkInvariants, violations } from '../../test/faults/helpers/invariants.js';
import { loadFigures, newStats, runLoad, type LoadStats } from '../../test/faults/helpers/load.js';
import { rng } from '../../test/faults/helpers/scale.js';
import { seedStock } from '../../test/faults/helpers/seed.js';
import { startService } from '../../test/faults/helpers/service-process.js';
import { alive, asPostgres, logger, pgEnv, primaryUrl, psql, runScript, sleep, startDetached, useTopology, waitFor, writeState } from './lib.js';
import { nodeDir, showState } from './postgres.js';
import { redisCli } from './redis.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const say = logger('ha');
const { state, started: startedTopology } = useTopology();
const s = state.settings;
const stream = `atp:ha:events:${Date.now()}`;
const SKUS = ['HA-A', 'HA-B', 'HA-C', 'HA-D'];
const LOCATIONS = ['DC1', 'DC2'];
/** client-side bound of one HTTP attempt: only a hang reaches it (the service answers by its 5 s deadline) */
const CLIENT_DEADLINE_MS = 20_000;
const SERVICE_ENV = {
  DATABASE_URL: s.DATABASE_URL!,
  REDIS_SENTINELS: s.REDIS_SENTINELS!,
  REDIS_SENTINEL_NAME: s.REDIS_SENTINEL_NAME!,
  ATP_EVENTS_STREAM: stream,
  ATP_RULES_KEY: `atp:ha:rules:${Date.now()}`,
  ATP_DB_POOL_MAX: '8',
  ATP_REQUEST_DEADLINE_MS: '5000',
  ATP_DB_CONNECT_TIMEOUT_MS: '2000',
  ATP_STATEMENT_TIMEOUT_MS: '5000',
  ATP_LOCK_TIMEOUT_MS: '2000',
};
/** the invariant checks and the monitor's view go straight to the primary, never through the service */
const directUrl = primaryUrl(s);

// ---- topology helpers ----------------------------------------------------------------------

const nodeIndex = (name: string) => Number(name.replace('node', '')) - 1;
async function primaryNode(): Promise<number | undefined> {
  const nodes = await showState(state);
  const p = nodes.find((n) => n.current_group_state === 'primary' && n.assigned_group_state === 'primary');
  return p ? nodeIndex(p.nodename) : undefined;
}
/** a settled primary whose synchronous_standby_names is ANY 1 (…) with a standby streaming as quorum/sync */
async function primaryWithSyncStandby(): Promise<number | undefined> {
  const i = await primaryNode();
  if (i === undefined) return undefined;
  const port = state.ports.pg[i]!;
  const names = await psql(port, 'postgres', 'postgres', 'show synchronous_standby_names');
  const n = await psql(port, 'postgres', 'postgres', "select count(*) from pg_stat_replication where state = 'streaming' and sync_state in ('sync', 'quorum')");
  return names.startsWith('ANY 1') && Number(n) >= 1 ? i : undefined;
}
async function redisMasterPort(): Promise<number> {
  const [, port] = (await redisCli(state.ports.sentinels[0]!, 'sentinel', 'get-master-addr-by-name', 'atp')).split('\n');
  return Number(port);
}
async function redisMasterWithReplica(): Promise<number | undefined> {
  const port = await redisMasterPort();
  const info = await redisCli(port, 'info', 'replication');
  return info.includes('role:master') && /connected_slaves:[1-9]/.test(info) && /slave0:.*state=online/.test(info) ? port : undefined;
}
/**
 * Every process of a node: the keeper's process group and every descendant (Postgres backends,
 * the WAL sender and the other auxiliary processes each call setsid, so signalling the group
 * alone would leave the backends serving their connections).
 */
function nodeTree(i: number): number[] {
  const root = nodeProc(i).pid;
  const parent = new Map<number, number>();
  const group = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      parent.set(Number(d), Number(f[1]));
      group.set(Number(d), Number(f[2]));
    } catch {
      /* gone */
    }
  }
  const out = new Set([...group].filter(([, g]) => g === root).map(([p]) => p));
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, pp] of parent) if (!out.has(p) && out.has(pp)) (out.add(p), (grew = true));
  }
  return [...out];
}
/** signal a whole node: the keeper group first (no new backends are forked), then the rest */
function signalNode(i: number, sig: NodeJS.Signals): number {
  const pids = nodeTree(i);
  process.kill(-nodeProc(i).pid, sig);
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone */
    }
  }
  return pids.length;
}
function nodeProc(i: number) {
  return state.procs.find((p) => p.name === `pg:node${i + 1}`)!;
}
/** `pg_autoctl run` again for a node whose keeper was killed (it rejoins as a standby, pg_rewind if needed) */
function restartNode(i: number) {
  const old = nodeProc(i);
  const proc = { ...startDetached(`pg:node${i + 1}`, asPostgres(['pg_autoctl', 'run', '--pgdata', nodeDir(state, i)]), old.log, pgEnv(state.baseDir)), pgdata: nodeDir(state, i) };
  state.procs = state.procs.map((p) => (p === old ? proc : p));
  writeState(state);
}
function redisProcByPort(port: number) {
  const name = port === state.ports.redisMaster ? 'redis:master' : 'redis:replica';
  return state.procs.find((p) => p.name === name)!;
}
function restartRedis(port: number) {
  const old = redisProcByPort(port);
  const dir = path.join(state.baseDir, 'redis', old.name.replace('redis:', ''));
  const proc = startDetached(old.name, ['redis-server', path.join(dir, 'redis.conf')], old.log);
  state.procs = state.procs.map((p) => (p === old ? proc : p));
  writeState(state);
}

// ---- service, load and probe ----------------------------------------------------------------

say(`starting the service on ${s.DATABASE_URL} and sentinels ${s.REDIS_SENTINELS}`);
const svc = await startService('ha', SERVICE_ENV);
const seeded = await seedStock(svc.url, SKUS, LOCATIONS, 4000);
const flags = { stop: false, fault: false };
const stats = newStats();
const random = rng(Number(process.env.FAULTS_SEED ?? 19));
const load = runLoad(
  {
    base: () => svc.url,
    clients: Number(process.env.HA_CLIENTS ?? 12),
    prefix: 'ha',
    skus: SKUS,
    channels: ['web', 'store'],
    random,
    deadlineMs: CLIENT_DEADLINE_MS,
    stopped: () => flags.stop,
    underFault: () => flags.fault,
    release: 0.2,
    commit: 0.1,
    replay: 0.05,
    giveUpMs: 180_000,
  },
  stats,
);

/** successful reservations of the probe: when each attempt was SENT, and when it was answered */
const probeOk: { sentAt: number; at: number }[] = [];
const probe = (async () => {
  for (let n = 0; !flags.stop; n++) {
    const key = `ha-probe-${n}`;
    const body = JSON.stringify({ orderRef: `ha-probe-${n}`, channel: 'web', lines: [{ sku: SKUS[n % SKUS.length], qty: 1 }], holdSeconds: 3600 });
    for (;;) {
      const sentAt = Date.now();
      const o = await call(`${svc.url}/v1/reservations`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body, deadlineMs: CLIENT_DEADLINE_MS });
      if (o.kind === 'response' && o.status === 201) {
        probeOk.push({ sentAt, at: Date.now() });
        stats.acked.set(key, { key, body: o.json as never });
        break;
      }
      if (o.kind === 'response' && o.status === 409) break;
      if (flags.stop) return;
      await sleep(100);
    }
    await sleep(100);
  }
})();

const redis = createRedis(redisTarget(loadConfig({ REDIS_SENTINELS: s.REDIS_SENTINELS, REDIS_SENTINEL_NAME: s.REDIS_SENTINEL_NAME }))!, {
  maxRetriesPerRequest: 0,
  enableOfflineQueue: false,
  connectTimeout: 500,
  commandTimeout: 1000,
  retryStrategy: (n) => Math.min(n * 100, 500),
});
redis.on('error', () => {});
/** the last entry id on the stream (through the sentinels), or undefined while Redis does not answer */
const streamTop = async () => {
  try {
    const [e] = (await redis.xrevrange(stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    return e?.[0] ?? '';
  } catch {
    return undefined;
  }
};

// ---- rounds ---------------------------------------------------------------------------------

type Kind = 'pg-kill' | 'pg-stop' | 'redis-kill';
interface RoundResult {
  round: number;
  kind: Kind;
  node?: string;
  /** fault → the first 201 for a reservation sent after the fault (ms) */
  firstReservationMs: number | null;
  /** fault → another node reports wait_primary or primary to the monitor (Postgres rounds) */
  newPrimaryMs?: number | null;
  /** fault → a new entry on the stream (Redis rounds: the relay publishing on the new master) */
  firstEventMs?: number | null;
  /** SIGSTOP rounds: how long the node was stopped */
  stoppedMs?: number;
  /** Postgres rounds: fault → each step of pg_auto_failover's failover, from the monitor's
   * pgautofailover.event table (ms; the first event of each kind after the fault) */
  monitorSteps?: Record<string, number>;
  /** what the load clients saw during the round: answers other than 2xx by status and code, connection errors, hangs */
  clientsSaw: Record<string, number>;
  connectionErrors: number;
  hangs: number;
  requests: number;
}

const snapshot = (st: LoadStats) => ({ byCode: { ...st.byCode }, connectionErrors: st.connectionErrors, deadlines: st.deadlines, requests: st.requests });
function diff(before: ReturnType<typeof snapshot>, after: ReturnType<typeof snapshot>) {
  const saw: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.byCode)) if (v - (before.byCode[k] ?? 0) > 0 && !k.startsWith('409')) saw[k] = v - (before.byCode[k] ?? 0);
  return { clientsSaw: saw, connectionErrors: after.connectionErrors - before.connectionErrors, hangs: after.deadlines - before.deadlines, requests: after.requests - before.requests };
}
async function firstReservationAfter(at: number, boundMs = 120_000): Promise<number | null> {
  const deadline = Date.now() + boundMs;
  while (Date.now() < deadline) {
    const ok = probeOk.find((p) => p.sentAt >= at);
    if (ok) return ok.at - at;
    await sleep(50);
  }
  return null;
}

/**
 * fault → each step of the failover as the monitor logged it: the old primary's goal set to
 * draining (detection), the candidate's goal set to prepare_promotion (every standby reported its
 * LSN), the old primary's goal set to demote_timeout (the candidate reached prepare_promotion; the
 * demote timeout runs from here), stop_replication reached (promoted, still read-only),
 * wait_primary assigned (the demote timeout is over: writable) and reached.
 */
async function monitorSteps(at: number, oldNode: string): Promise<Record<string, number>> {
  const rows = await psql(
    state.ports.monitor, 'pg_auto_failover', 'autoctl_node',
    `select (extract(epoch from eventtime) * 1000)::bigint || '|' || nodename || '|' || reportedstate || '|' || goalstate
       from pgautofailover.event where eventtime >= to_timestamp(${at / 1000}) order by eventid`,
  );
  const steps: Record<string, number> = {};
  const first = (k: string, t: number) => (steps[k] ??= t - at);
  for (const line of rows.split('\n').filter(Boolean)) {
    const [t, node, reported, goal] = line.split('|');
    const ms = Number(t);
    if (node === oldNode && goal === 'draining') first('detectedDraining', ms);
    if (node !== oldNode && goal === 'prepare_promotion') first('candidateChosen', ms);
    // the candidate reached prepare_promotion: the old primary's goal is demote_timeout, whose clock starts here
    if (node === oldNode && goal === 'demote_timeout') first('demoteTimeoutStarted', ms);
    if (node !== oldNode && reported === 'stop_replication' && goal === 'stop_replication') first('stopReplicationReached', ms);
    if (node !== oldNode && goal === 'wait_primary' && reported === 'stop_replication') first('demoteTimeoutOverWaitPrimaryAssigned', ms);
    if (node !== oldNode && reported === 'wait_primary') first('waitPrimaryReached', ms);
  }
  return steps;
}

async function ready(kind: Kind) {
  await waitFor('a primary with a streaming synchronous standby', 300_000, primaryWithSyncStandby, 500);
  // and every node settled: a failover while a node is still rejoining stalled in report_lsn (run 3)
  await waitFor('a primary and two secondaries, all settled', 300_000, async () => ((await showState(state)).every((n) => n.current_group_state === n.assigned_group_state && ['primary', 'secondary'].includes(n.current_group_state)) ? true : undefined), 500);
  if (kind === 'redis-kill') await waitFor('a Redis master with a replica in sync', 120_000, redisMasterWithReplica, 500);
  // a settled system: the load has been succeeding for a moment
  const n = probeOk.length;
  await waitFor('reservations succeeding', 120_000, async () => (probeOk.length >= n + 3 ? true : undefined), 100);
}

async function pgRound(round: number, kind: 'pg-kill' | 'pg-stop'): Promise<RoundResult> {
  await ready(kind);
  const i = (await primaryNode())!;
  const proc = nodeProc(i);
  const before = snapshot(stats);
  flags.fault = true;
  const at = Date.now();
  const n = signalNode(i, kind === 'pg-kill' ? 'SIGKILL' : 'SIGSTOP');
  say(`round ${round}: ${kind} node${i + 1} (port ${state.ports.pg[i]}, keeper ${proc.pid}, ${n} processes)`);
  // promoted: another node reports wait_primary or primary (it takes writes from then on)
  const promoted = await waitFor('another node promoted', 180_000, async () => {
    const nodes = await showState(state);
    return nodes.some((n) => nodeIndex(n.nodename) !== i && ['wait_primary', 'primary'].includes(n.current_group_state)) ? Date.now() - at : undefined;
  }, 200).catch(() => null);
  let stoppedMs: number | undefined;
  if (kind === 'pg-stop') {
    // resumed once another node is primary: from now on the old one must acknowledge nothing
    signalNode(i, 'SIGCONT');
    stoppedMs = Date.now() - at;
    say(`round ${round}: SIGCONT node${i + 1} after ${stoppedMs} ms`);
  }
  const first = await firstReservationAfter(at);
  flags.fault = false;
  // the new primary reports wait_primary up to a keeper loop after it became writable
  const steps = await waitFor('the monitor event of wait_primary reached', 15_000, async () => {
    const st = await monitorSteps(at, `node${i + 1}`);
    return st.waitPrimaryReached !== undefined ? st : undefined;
  }, 500).catch(() => monitorSteps(at, `node${i + 1}`).catch(() => ({})));
  const result: RoundResult = { round, kind, node: `node${i + 1}`, firstReservationMs: first, newPrimaryMs: promoted, ...(stoppedMs !== undefined ? { stoppedMs } : {}), monitorSteps: steps, ...diff(before, snapshot(stats)) };
  if (kind === 'pg-kill') {
    await waitFor('the killed keeper gone', 10_000, async () => (alive(proc.pid) ? undefined : true), 100);
    restartNode(i);
  }
  say(`round ${round}: ${kind}: monitor steps ${JSON.stringify(steps)}`);
  say(`round ${round}: ${kind}: first reservation after ${first} ms, new primary after ${promoted} ms; clients saw ${JSON.stringify(result.clientsSaw)}, ${result.connectionErrors} connection errors, ${result.hangs} hangs`);
  return result;
}

async function redisRound(round: number): Promise<RoundResult> {
  await ready('redis-kill');
  const port = await redisMasterPort();
  const proc = redisProcByPort(port);
  const before = snapshot(stats);
  const top = await streamTop();
  flags.fault = true;
  const at = Date.now();
  process.kill(proc.pid, 'SIGKILL');
  say(`round ${round}: redis-kill master ${port} (pid ${proc.pid})`);
  const firstEvent = await waitFor('a new stream entry on the new master', 120_000, async () => {
    const now = await streamTop();
    return now !== undefined && now !== top && (await redisMasterPort()) !== port ? Date.now() - at : undefined;
  }, 100).catch(() => null);
  const first = await firstReservationAfter(at);
  flags.fault = false;
  const result: RoundResult = { round, kind: 'redis-kill', node: `redis:${port}`, firstReservationMs: first, firstEventMs: firstEvent, ...diff(before, snapshot(stats)) };
  restartRedis(port);
  say(`round ${round}: redis-kill: first reservation after ${first} ms, first event on the new master after ${firstEvent} ms; clients saw ${JSON.stringify(result.clientsSaw)}`);
  return result;
}

// A load or probe client that throws (a response outside the API contract, e.g. a 500) fails the
// run: recorded here, the rounds stop, and the checks, the report and ha:down still run — an
// unhandled rejection used to end the process with the service and the topology left running.
let loadFailure: string | undefined;
const loadDone = Promise.all([load, probe]).then(
  () => undefined,
  (e: unknown) => {
    loadFailure = `a load client failed: ${(e as Error).stack ?? String(e)}`;
    flags.stop = true;
  },
);

const results: RoundResult[] = [];
let failure: string | undefined;
try {
  for (let r = 1; r <= ROUNDS; r++) {
    if (loadFailure) throw new Error(loadFailure);
    results.push(await pgRound(r, 'pg-kill'));
    results.push(await pgRound(r, 'pg-stop'));
    results.push(await redisRound(r));
  }
} catch (e) {
  failure = (e as Error).stack ?? String(e);
  console.error(failure);
}

// ---- checks -----------------------------------------------------------------------------------

flags.stop = true;
say('stopping the load');
await loadDone;
if (loadFailure && !failure) {
  failure = loadFailure;
  console.error(failure);
}
say('waiting for the outbox to drain onto the stream');
const pg = postgres(directUrl, { max: 1, onnotice: () => {} });
const drained = await waitFor('the outbox drained', 120_000, async () => ((await pg<{ n: number }[]>`select count(*)::int as n from outbox o where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c)`)[0]!.n === 0 ? true : undefined), 500).catch(
  (e: Error) => e.message,
);
const outbox = (await pg<{ event_id: string }[]>`select event_id from outbox order by txid, id`).map((r) => r.event_id);
await pg.end();
const entries = (await redis.xrange(stream, '-', '+')) as [string, string[]][];
const onStream = entries.map(([, f]) => f[f.indexOf('id') + 1]!);
const counts = new Map<string, number>();
for (const id of onStream) counts.set(id, (counts.get(id) ?? 0) + 1);
const events = {
  outbox: outbox.length,
  onStream: onStream.length,
  missing: outbox.filter((id) => !counts.has(id)).length,
  duplicated: [...counts.values()].filter((n) => n > 1).length,
  notInOutbox: onStream.filter((id) => !outbox.includes(id)).length,
  drained: drained === true ? true : drained,
};
const inv = await checkInvariants(directUrl, { acked: stats.acked.values(), seeded });
redis.disconnect();
await svc.stop();

const bad = { ...violations(inv), ...(events.missing ? { eventsMissing: events.missing } : {}), ...(events.duplicated ? { eventsDuplicated: events.duplicated } : {}), ...(events.notInOutbox ? { eventsForeign: events.notInOutbox } : {}) };
const hygiene = { hangs: stats.deadlines, serverErrors: stats.serverErrors, missingRetryAfter: stats.missingRetryAfter, notProblem: stats.notProblem, gaveUp: stats.gaveUp, replayMismatches: stats.replayMismatches, unexpectedExits: svc.unexpectedExits };
for (const [k, v] of Object.entries(hygiene)) if (v) (bad as Record<string, number>)[k] = v;
const file = writeFigures('ha', {
  requestsUnderFault: stats.requestsUnderFault,
  faultsInjected: Object.fromEntries(['pg-kill', 'pg-stop', 'redis-kill'].map((k) => [k, results.filter((r) => r.kind === k).length])),
  acknowledgedLost: inv.acknowledgedLost,
  unitsOversold: inv.unitsOversold,
  doubled: inv.duplicateKeys,
  rounds: results,
  events,
  invariants: inv,
  hygiene,
  load: loadFigures(stats),
  failure: failure ?? null,
});
console.log(JSON.stringify({ rounds: results, events, acknowledged: stats.acked.size, invariants: violations(inv), hygiene }, null, 2));
say(`report: ${file}`);
if (startedTopology && process.env.ATP_HA_KEEP !== '1') runScript('down');
if (failure || Object.keys(bad).length > 0) {
  console.error(`test:ha FAILED: ${failure ? 'a round did not complete; ' : ''}${JSON.stringify(bad)}`);
  process.exit(1);
}
say(`test:ha passed: ${results.length} faults, ${stats.acked.size} acknowledged reservations, 0 lost, 0 oversold, 0 doubled, ${events.outbox} events each on the stream once`);
process.exit(0);
