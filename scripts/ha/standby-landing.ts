/**
 * `npx tsx scripts/ha/standby-landing.ts` (root; Postgres 15 binaries): the open finding of the
 * failover rounds (docs/RELIABILITY.md "Failover rounds") on two plain nodes, without pg_autoctl.
 * A primary and a hot standby (pg_basebackup -R) on free ports in a temporary directory; postgres.js
 * on `standby,primary` with target_session_attrs=primary, as the service opens its pool. With both
 * up, every query runs on the primary. Then both stop and, while the pool keeps being used (8
 * queries every 200 ms), the standby starts, then the primary: the script prints where the
 * queries ran. Exit 1 if any ran on the standby after the primary was back. (A single batch of
 * queries sent while both are down instead waits until the primary is back: only a pool in use
 * lands on the standby.)
 *
 * The mechanism (found with a traced copy of the driver): the fast shutdown sends each backend's
 * FATAL 57P01 while a query is in flight; postgres.js 3.4.9 stores it as the query's pending
 * error and, the socket closing before ReadyForQuery, never clears it. On the reconnect the first
 * ReadyForQuery (the startup's) finds that stale error, rejects the connection's first query with
 * it and skips the target_session_attrs check: the connection stays on whichever host it reached.
 * This script shows the raw driver (it still exits 1); the service replaces its pools at the first
 * 25006 (src/db/generations.ts), tested without timing in test/db.standby-landing.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { asPostgres, freePorts, PG_BIN, run, sleep } from './lib.js';

const base = mkdtempSync(path.join(tmpdir(), 'atp-standby-landing-'));
const [primaryPort, standbyPort] = await freePorts(2);
const dir = { primary: path.join(base, 'primary'), standby: path.join(base, 'standby') };
const port = { primary: primaryPort!, standby: standbyPort! };
/**
 * pg_ctl, synchronously: the event loop is blocked while a node stops or starts, as a busy
 * service's is on a loaded host. With asynchronous stops and starts (the loop free to handle each
 * connection's close at once) the pool did not land on the standby in one try; blocked, it
 * landed every time (3 of 3): blocked, queries are sent on the old sockets before their FATAL is
 * read, so the FATAL arrives during a query (the mechanism above).
 */
function pgctl(node: 'primary' | 'standby', ...args: string[]): void {
  const r = spawnSync(asPostgres([`${PG_BIN}/pg_ctl`, '-D', dir[node], ...args])[0]!, asPostgres([`${PG_BIN}/pg_ctl`, '-D', dir[node], ...args]).slice(1), { stdio: 'ignore', timeout: 60_000 });
  if (r.status !== 0 && !args.includes('stop')) throw new Error(`pg_ctl ${args.join(' ')} (${node}) exited ${r.status}`);
}
const start = (node: 'primary' | 'standby') =>
  pgctl(node, '-l', path.join(base, `${node}.log`), '-w', '-o', `-p ${port[node]} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${base}`, 'start');
const stop = (node: 'primary' | 'standby') => pgctl(node, '-m', 'fast', '-w', 'stop');

let onStandbyAfterPrimaryBack = 0;
try {
  await run(['chown', 'postgres:postgres', base]);
  await run(asPostgres([`${PG_BIN}/initdb`, '-D', dir.primary, '--auth=trust', '-U', 'postgres']));
  start('primary');
  await run(asPostgres([`${PG_BIN}/pg_basebackup`, '-h', '127.0.0.1', '-p', String(port.primary), '-U', 'postgres', '-D', dir.standby, '-R']));
  start('standby');

  const sql = postgres(`postgres://postgres@127.0.0.1:${port.standby},127.0.0.1:${port.primary}/postgres?target_session_attrs=primary`, {
    max: 4, connect_timeout: 2, backoff: () => 0.2, onnotice: () => {},
  });
  const sample = async () => {
    const r = await Promise.allSettled(Array.from({ length: 8 }, () => sql<{ standby: boolean }[]>`select pg_is_in_recovery() as standby`));
    return r.map((x) => (x.status === 'fulfilled' ? (x.value[0]!.standby ? 'standby' : 'primary') : ((x.reason as { code?: string }).code ?? 'error')));
  };
  console.log(`both up: ${(await sample()).join(' ')}`);
  // both stop; the pool keeps being used (a sample every 200 ms, as the service's load does) while
  // the standby starts, then the primary
  stop('standby');
  stop('primary');
  let primaryBack = false;
  const load = (async () => {
    for (let i = 0; i < 30; i++) {
      const got = await sample();
      if (primaryBack) onStandbyAfterPrimaryBack += got.filter((g) => g === 'standby').length;
      console.log(`${primaryBack ? 'primary back' : 'primary down'}, sample ${i}: ${got.join(' ')}`);
      await sleep(200);
    }
  })();
  await sleep(1500);
  start('standby');
  await sleep(1500);
  start('primary');
  primaryBack = true;
  await load;
  await sql.end({ timeout: 1 });
} finally {
  stop('standby');
  stop('primary');
  rmSync(base, { recursive: true, force: true });
}
console.log(`${onStandbyAfterPrimaryBack} queries ran on the standby after the primary was back`);
process.exit(onStandbyAfterPrimaryBack > 0 ? 1 : 0);
