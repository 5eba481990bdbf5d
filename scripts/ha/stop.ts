/**
 * Stop everything a state file lists, by pid: pg_autoctl keepers with `pg_autoctl stop` (which
 * stops their Postgres), then SIGTERM, then SIGKILL of the process group for whatever is still
 * there, and any postmaster left in a data directory. Then the temporary directory is removed
 * (kept with ATP_HA_KEEP=1) and so is the state file. Used by ha:down and by a failed ha:up.
 */
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { alive, asPostgres, pgEnv, run, sleep, stateFile, type HaState, type Proc } from './lib.js';

async function waitGone(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter(alive);
  while (left.length && Date.now() < deadline) {
    await sleep(100);
    left = left.filter(alive);
  }
  return left;
}

function signal(pid: number, sig: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, sig);
  } catch {
    /* already gone */
  }
}

/** the postmaster of a data directory, if its postmaster.pid names a live process */
function postmaster(pgdata: string): number | undefined {
  const file = path.join(pgdata, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  // a stale file (crash) may name a pid since reused by something else: only a postgres on this directory
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline[0]?.endsWith('/postgres') && cmdline.includes(pgdata) ? pid : undefined;
  } catch {
    return undefined;
  }
}

export async function stopAll(state: HaState, log: (m: string) => void = console.log): Promise<void> {
  const t00 = Date.now();
  const keepers = state.procs.filter((p): p is Proc & { pgdata: string } => !!p.pgdata);
  const others = state.procs.filter((p) => !p.pgdata);
  // data nodes first, the monitor last (it would otherwise try to fail over the stopping nodes)
  const order = [...keepers.filter((p) => p.name !== 'pg:monitor'), ...keepers.filter((p) => p.name === 'pg:monitor')];
  for (const group of [order.slice(0, -1), order.slice(-1)]) {
    const t0 = Date.now();
    await Promise.all(
      group.filter((p) => alive(p.pid)).map((p) =>
        run(asPostgres(['pg_autoctl', 'stop', '--pgdata', p.pgdata]), { env: pgEnv(state.baseDir), timeoutMs: 10_000 }).catch(() => undefined),
      ),
    );
    const left = await waitGone(group.map((p) => p.pid), 20_000);
    for (const pid of left) signal(pid, 'SIGKILL', true);
    if (group.length) log(`stopped ${group.map((p) => p.name).join(', ')} in ${Date.now() - t0} ms${left.length ? ` (${left.length} killed)` : ''}`);
  }
  if (process.env.ATP_HA_DEBUG) log(`  keepers done: ${Date.now() - t00} ms`);
  // every data directory under baseDir, not only the keepers': a `pg_autoctl create` cut short
  // may have left a postmaster that no state entry names
  const dataDirs = existsSync(state.baseDir)
    ? readdirSync(state.baseDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join(state.baseDir, d.name))
    : [];
  for (const pgdata of new Set([...keepers.map((p) => p.pgdata), ...dataDirs])) {
    const pm = postmaster(pgdata);
    if (pm) {
      log(`postmaster ${pm} of ${pgdata} outlived its keeper: SIGQUIT`);
      signal(pm, 'SIGQUIT', false);
      if ((await waitGone([pm], 5000)).length) signal(pm, 'SIGKILL', false);
    }
  }
  // sentinels first, so they do not fail over the master being stopped; the replica before the
  // master, which would otherwise wait (shutdown-timeout, 10 s) for a replica that is going away
  const t1 = Date.now();
  for (const kind of ['sentinel', 'replica', 'master']) {
    const group = others.filter((p) => p.name.includes(kind));
    for (const p of group) signal(p.pid, 'SIGTERM', true);
    const left = await waitGone(group.map((p) => p.pid), 10_000);
    for (const pid of left) signal(pid, 'SIGKILL', true);
    await waitGone(left, 2000);
    if (process.env.ATP_HA_DEBUG) log(`  ${kind}: ${Date.now() - t1} ms${left.length ? ' (killed)' : ''}`);
  }
  if (others.length) log(`stopped redis in ${Date.now() - t1} ms`);

  const still = state.procs.filter((p) => alive(p.pid));
  if (still.length) throw new Error(`still running: ${still.map((p) => `${p.name} (${p.pid})`).join(', ')}`);
  if (process.env.ATP_HA_DEBUG) log(`  all stopped: ${Date.now() - t00} ms`);
  if (process.env.ATP_HA_KEEP === '1') log(`kept ${state.baseDir} (ATP_HA_KEEP=1)`);
  else rmSync(state.baseDir, { recursive: true, force: true });
  rmSync(stateFile(), { force: true });
}
