/**
 * `npm run test:restore` (opt-in; root and the packages `ha:up` names): the point-in-time restore
 * drill on the local HA topology (started with `ha:up` unless one is running; stopped afterwards
 * if this script started it).
 *
 *  1. The service runs on the topology with load from retrying clients (test/faults/helpers/load.ts).
 *  2. With the load running, a full pgBackRest backup; the load goes on.
 *  3. The target: every reservation acknowledged so far is noted, then the primary's
 *     clock_timestamp() is read — the moment before the mistake.
 *  4. The mistake, through the API: a bulk count that zeroes what location DC1 can sell (onHand set
 *     to what is reserved there, for every SKU; reason `MISTAKE bulk count`).
 *  5. The load stops; the WAL holding the target is archived (pg_switch_wal, waited for).
 *  6. RTO clock starts: `pgbackrest restore --type=time --target=<T> --target-action=promote` into a
 *     NEW data directory, Postgres started alone on a spare port (no synchronous standby, no
 *     archiving), the service started on it; RTO clock stops when /readyz answers 200.
 *  7. Checks on the restored database, straight from the tables: every reservation acknowledged
 *     before the target is there exactly once with what its client was told; none of the
 *     mistake's ledger rows; DC1's counts back; the invariants (ledger, reserved, oversell,
 *     channel holds, status) all hold. RPO: what was acknowledged after the target (lost by the
 *     choice of the target; a restore to just before the mistake keeps everything up to it).
 * Report: .faults/report-restore.json; exit 1 on any violation. Run it alone:
 *   flock /tmp/atp-bench.lock npm run test:restore
 */
import path from 'node:path';
import postgres from 'postgres';
import { writeFigures } from '../../test/faults/helpers/figures.js';
import { call } from '../../test/faults/helpers/http.js';
import { checkInvariants, violations } from '../../test/faults/helpers/invariants.js';
import { loadFigures, newStats, runLoad } from '../../test/faults/helpers/load.js';
import { rng, sleep } from '../../test/faults/helpers/scale.js';
import { seedStock } from '../../test/faults/helpers/seed.js';
import { startService } from '../../test/faults/helpers/service-process.js';
import { asPostgres, freePorts, logger, PG_BIN, primaryUrl, run, runScript, useTopology, waitFor } from './lib.js';
import { backrest } from './postgres.js';

const say = logger('restore');
const { state, started: startedTopology } = useTopology();
const s = state.settings;
const SKUS = ['RS-A', 'RS-B', 'RS-C'];
const LOCATIONS = ['DC1', 'DC2'];
const directUrl = primaryUrl(s);
const failures: string[] = [];
const check = (ok: boolean, what: string) => {
  if (!ok) failures.push(what);
  say(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

// 1. the service under load
const svc = await startService('restore-live', { DATABASE_URL: s.DATABASE_URL!, ATP_DB_POOL_MAX: '6', ATP_REQUEST_DEADLINE_MS: '5000' });
const seeded = await seedStock(svc.url, SKUS, LOCATIONS, 5000);
const flags = { stop: false };
const stats = newStats();
const load = runLoad(
  {
    base: () => svc.url,
    clients: 6,
    prefix: 'rs',
    skus: SKUS,
    channels: ['web', 'store'],
    random: rng(Number(process.env.FAULTS_SEED ?? 19)),
    deadlineMs: 20_000,
    stopped: () => flags.stop,
    underFault: () => false,
    release: 0.2,
    commit: 0.1,
    replay: 0.05,
    giveUpMs: 120_000,
  },
  stats,
);
await sleep(5000);

// 2. a full backup while the load runs
const backupStarted = Date.now();
await backrest(state, '--type=full', 'backup');
const backupMs = Date.now() - backupStarted;
const ackedDuringBackup = stats.acked.size;
say(`full backup under load in ${backupMs} ms (${ackedDuringBackup} reservations acknowledged so far)`);
await sleep(5000);

// 3. the target: everything acknowledged so far committed before it
const pg = postgres(directUrl, { max: 1, onnotice: () => {} });
const ackedBefore = [...stats.acked.values()];
const target = (await pg<{ target: string }[]>`select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as target`)[0]!.target;
const dc1Before = await pg<{ sku: string; on_hand: number }[]>`select sku, on_hand from positions where location = 'DC1' order by sku`;
say(`target ${target}: ${ackedBefore.length} reservations acknowledged before it`);

// 4. the mistake: a bulk count that leaves DC1 nothing to sell
let mistakes = 0;
for (const sku of SKUS) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const pos = await call(`${svc.url}/v1/inventory/${sku}/DC1`, { deadlineMs: 20_000 });
    if (pos.kind !== 'response' || pos.status !== 200) continue;
    const { reserved, qualityHold } = pos.json as { reserved: number; qualityHold: number };
    const put = await call(`${svc.url}/v1/inventory/${sku}/DC1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ onHand: reserved + qualityHold, reason: 'MISTAKE bulk count' }),
      deadlineMs: 20_000,
    });
    if (put.kind === 'response' && put.status === 200) {
      mistakes++;
      break;
    }
  }
}
const mistakeAt = Date.now();
check(mistakes === SKUS.length, `the mistake: ${mistakes} of ${SKUS.length} DC1 counts zeroed what DC1 can sell`);
await sleep(2000);

// 5. load stops; the WAL up to the target is archived
flags.stop = true;
await load;
await svc.stop();
const ackedAfter = stats.acked.size - ackedBefore.length;
const wal = (await pg<{ wal: string }[]>`select pg_walfile_name(pg_switch_wal()) as wal`)[0]!.wal;
await waitFor(`WAL ${wal} archived`, 60_000, async () => {
  const [r] = await pg<{ last: string | null }[]>`select last_archived_wal as last from pg_stat_archiver`;
  return r?.last && r.last.slice(8) >= wal.slice(8) ? true : undefined;
}, 250);
const mistakeRowsLive = (await pg<{ n: number }[]>`select count(*)::int as n from ledger where reason like '%MISTAKE bulk count%'`)[0]!.n;
await pg.end();
say(`load stopped: ${stats.acked.size} acknowledged in all, ${ackedAfter} after the target; WAL ${wal} archived; the mistake wrote ${mistakeRowsLive} ledger rows`);

// 6. restore into a new data directory, start Postgres alone, start the service on it
const rtoStarted = Date.now();
const dir = path.join(state.baseDir, `restore-${Date.now()}`);
await run(['install', '-d', '-o', 'postgres', '-g', 'postgres', '-m', '700', dir]);
await backrest(state, `--pg1-path=${dir}`, '--type=time', `--target=${target}`, '--target-action=promote', 'restore');
const restoredAt = Date.now();
const [port] = await freePorts(1);
await run(
  asPostgres([
    `${PG_BIN}/pg_ctl`, '-D', dir, '-l', path.join(dir, 'restore.log'), '-w', '-t', '300',
    '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c synchronous_standby_names='' -c archive_mode=off -c unix_socket_directories=${dir}`,
    'start',
  ]),
  { timeoutMs: 320_000 },
);
const restoredUrl = `postgres://atp@127.0.0.1:${port}/atp`;
const rpg = postgres(restoredUrl, { max: 1, onnotice: () => {} });
await waitFor('the restored node promoted', 120_000, async () => ((await rpg<{ r: boolean }[]>`select pg_is_in_recovery() as r`)[0]!.r ? undefined : true), 200);
const startedAt = Date.now();
const restoredSvc = await startService('restore-restored', { DATABASE_URL: restoredUrl, ATP_DB_POOL_MAX: '4' });
await waitFor('the service on the restored database ready', 60_000, async () => {
  const o = await call(`${restoredSvc.url}/readyz`, { deadlineMs: 5000 });
  return o.kind === 'response' && o.status === 200 ? true : undefined;
}, 100);
const readyAt = Date.now();
const rtoMs = readyAt - rtoStarted;
say(`RTO ${rtoMs} ms: pgbackrest restore ${restoredAt - rtoStarted} ms, Postgres start + replay + promote ${startedAt - restoredAt} ms, service ready ${readyAt - startedAt} ms`);

// 7. checks on the restored database
const mistakeRows = (await rpg<{ n: number }[]>`select count(*)::int as n from ledger where reason like '%MISTAKE bulk count%'`)[0]!.n;
check(mistakeRowsLive > 0 && mistakeRows === 0, `the mistake is undone: ${mistakeRows} of its ${mistakeRowsLive} ledger rows on the restored database`);
const dc1After = await rpg<{ sku: string; on_hand: number; reserved: number }[]>`select sku, on_hand, reserved from positions where location = 'DC1' order by sku`;
check(dc1After.every((p) => p.on_hand > p.reserved), `DC1 can sell again on the restored database (${dc1After.map((p) => `${p.sku} ${p.on_hand - p.reserved}`).join(', ')} available)`);
check(JSON.stringify(dc1After.map((p) => p.sku)) === JSON.stringify(dc1Before.map((p) => p.sku)), 'the same DC1 positions as before the mistake');
const inv = await checkInvariants(restoredUrl, { acked: ackedBefore, seeded });
check(Object.keys(violations(inv)).length === 0, `invariants on the restored database, every reservation acknowledged before the target there once: ${JSON.stringify(violations(inv))} (${inv.reservations} reservations, ${inv.positions} positions)`);
const served = await call(`${restoredSvc.url}/v1/reservations`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'idempotency-key': 'restore-drill-after' },
  body: JSON.stringify({ orderRef: 'restore-drill-after', channel: 'web', lines: [{ sku: 'RS-A', qty: 1, location: 'DC1' }] }),
  deadlineMs: 20_000,
});
check(served.kind === 'response' && served.status === 201, `the service on the restored database reserves at DC1 (${served.kind === 'response' ? served.status : served.kind})`);
await rpg.end();
await restoredSvc.stop();
await run(asPostgres([`${PG_BIN}/pg_ctl`, '-D', dir, '-m', 'fast', '-w', 'stop']), { timeoutMs: 60_000 });

const file = writeFigures('restore', {
  requestsUnderFault: 0,
  faultsInjected: { 'bulk-count-mistake': mistakes },
  acknowledgedLost: inv.acknowledgedLost,
  unitsOversold: inv.unitsOversold,
  target,
  backupMs,
  rtoMs,
  rto: { restoreMs: restoredAt - rtoStarted, postgresStartReplayPromoteMs: startedAt - restoredAt, serviceReadyMs: readyAt - startedAt },
  rpo: { acknowledgedBeforeTargetLost: inv.acknowledgedLost + inv.acknowledgedDiffer, acknowledgedAfterTarget: ackedAfter, mistakeAfterTargetMs: mistakeAt - Date.parse(target.replace(' ', 'T').replace('+00', 'Z')) },
  invariants: inv,
  load: loadFigures(stats),
  failures,
});
say(`report: ${file}`);
if (startedTopology && process.env.ATP_HA_KEEP !== '1') runScript('down');
if (failures.length) {
  console.error(`test:restore FAILED:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
say('test:restore passed');
process.exit(0);
