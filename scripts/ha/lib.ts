/**
 * Shared plumbing of the local HA topology (scripts/ha/up.ts, down.ts, smoke.ts): the state file,
 * free ports, processes started detached in their own process group (so ha:down can stop each
 * one by its id), commands run as the `postgres` user, polling with a deadline.
 *
 * Nothing here touches the machine's own Postgres (5432) or Redis (6379): every port is one the
 * kernel hands out free at start, every directory is under a fresh temporary directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const STANZA = 'atp';
export const SENTINEL_NAME = 'atp';
export const DB_NAME = 'atp';
export const DB_USER = 'atp';

export interface Proc {
  /** what it is, e.g. `pg:node1`, `redis:sentinel2` */
  name: string;
  pid: number;
  /** the Postgres data directory a pg_autoctl process manages (stopped with `pg_autoctl stop`) */
  pgdata?: string;
  log: string;
}

export interface HaState {
  startedAt: string;
  /** the temporary directory holding every data directory, config and log */
  baseDir: string;
  ports: {
    monitor: number;
    pg: number[];
    redisMaster: number;
    redisReplica: number;
    sentinels: number[];
  };
  procs: Proc[];
  settings?: Record<string, string>;
}

export const stateDir = () => path.join(process.env.TMPDIR || tmpdir(), 'atp-ha');
export const stateFile = () => path.join(stateDir(), 'state.json');

export function readState(): HaState | undefined {
  if (!existsSync(stateFile())) return undefined;
  return JSON.parse(readFileSync(stateFile(), 'utf8')) as HaState;
}

/** Written after every process start, so a failed ha:up (or ha:down) can stop what exists. */
export function writeState(state: HaState): void {
  mkdirSync(stateDir(), { recursive: true });
  const tmp = `${stateFile()}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, stateFile());
}

/** the process exists and is not a zombie waiting for its (re)parent to reap it */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** `count` distinct ports the kernel reports free on 127.0.0.1 (held together, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<import('node:net').Server>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as import('node:net').AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Environment of every pg_autoctl call: its config/state/pid files stay inside baseDir. */
export function pgEnv(baseDir: string): Record<string, string> {
  return {
    PATH: `${PG_BIN}:/usr/bin:/bin`,
    HOME: baseDir,
    XDG_CONFIG_HOME: path.join(baseDir, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(baseDir, 'xdg', 'data'),
    XDG_RUNTIME_DIR: path.join(baseDir, 'xdg', 'run'),
    LANG: 'C.UTF-8',
  };
}

/** argv prefix running a command as the postgres user (setpriv execs: the pid is the command's). */
export const asPostgres = (argv: string[]): string[] => ['setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups', '--', ...argv];

let aborted = false;
/** commands run() is waiting for (initdb, pg_autoctl create, pgbackrest …) */
const running = new Set<import('node:child_process').ChildProcess>();
/** After this, startDetached refuses and running commands are terminated: a failing ha:up stops
 * what exists and starts nothing more. */
export async function abortStarts(): Promise<void> {
  aborted = true;
  const children = [...running];
  for (const child of children) killGroup(child, 'SIGTERM');
  const deadline = Date.now() + 3000;
  while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline) await sleep(50);
  for (const child of children) killGroup(child, 'SIGKILL');
}

/** Start a long-running process detached (own process group), output appended to `log`. */
export function startDetached(name: string, argv: string[], log: string, env?: Record<string, string>): Proc {
  if (aborted) throw new Error(`${name}: not started (ha:up is stopping)`);
  const fd = openSync(log, 'a');
  const [cmd, ...args] = argv;
  const child = spawn(cmd!, args, { detached: true, stdio: ['ignore', fd, fd], env: env ?? process.env });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`${name}: could not start ${cmd}`);
  return { name, pid: child.pid, log };
}

/** Run a command to completion in its own process group; rejects with its output on a non-zero
 * exit. On timeout or abort the whole group is killed (initdb under pg_autoctl, for instance). */
export function run(argv: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { env: opts.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), opts.timeoutMs ?? 60_000);
    running.add(child);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new Error(`${argv.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${argv.join(' ')} failed (${signal ?? `exit ${code}`})\n${out}`.trim()));
    });
  });
}

function killGroup(child: import('node:child_process').ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (child.pid) process.kill(-child.pid, sig);
  } catch {
    /* gone */
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it returns a value (not undefined) or the deadline passes. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(everyMs);
  }
}

/** psql one statement, unaligned output (trust auth on 127.0.0.1). */
export const psql = (port: number, db: string, user: string, sql: string) =>
  run(['psql', '-X', '-qAt', '-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-c', sql], { timeoutMs: 15_000 }).then((s) => s.trim());

const REQUIRED: [string, string][] = [
  [`${PG_BIN}/initdb`, 'postgresql-15'],
  ['/usr/bin/pg_autoctl', 'postgresql-15-auto-failover'],
  ['/usr/bin/pgbackrest', 'pgbackrest'],
  ['/usr/bin/psql', 'postgresql-client-15'],
  ['/usr/bin/redis-server', 'redis-server'],
  ['/usr/bin/redis-cli', 'redis-tools'],
  ['/usr/bin/setpriv', 'util-linux'],
];

/** Exit 2 naming the Debian packages to install when a binary is missing, or when not root. */
export function requireTools(): void {
  const missing = REQUIRED.filter(([bin]) => !existsSync(bin)).map(([, pkg]) => pkg);
  if (missing.length) {
    console.error(
      `ha: missing packages: ${[...new Set(missing)].join(' ')}\n` +
        `install them with:\n  apt-get update && apt-get install -y ${[...new Set(missing)].join(' ')}`,
    );
    process.exit(2);
  }
  if (process.getuid?.() !== 0) {
    console.error('ha: run as root (pg_autoctl and Postgres run as the `postgres` user, started with setpriv)');
    process.exit(2);
  }
}

// ---- the preamble of the scripts that run on a topology (rounds.ts, restore-drill.ts, smoke.ts, probe.ts)

const HERE = path.dirname(new URL(import.meta.url).pathname);

/** `[tag +12.3s] message`, seconds since the script started */
export function logger(tag: string): (m: string) => void {
  const t0 = Date.now();
  return (m) => console.log(`[${tag} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
}

/** Run `ha:up` or `ha:down` (scripts/ha/up.ts, down.ts) to completion, output inherited; throws
 * on a non-zero exit; returns how long it took (ms). */
export function runScript(name: 'up' | 'down'): number {
  const start = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(HERE, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`ha:${name} exited ${r.status}`);
  return Date.now() - start;
}

export type RunningState = HaState & { settings: Record<string, string> };

/** The running topology's state, or undefined when none is up (no state file, or no settings yet). */
export function runningState(): RunningState | undefined {
  const s = readState();
  return s?.settings ? (s as RunningState) : undefined;
}

/**
 * A topology to run on: the one already up (left running afterwards), or one started with
 * `ha:up` now (`started: true`; stop it with `runScript('down')` unless ATP_HA_KEEP=1).
 * Exits 2 first when a package is missing or not root.
 */
export function useTopology(): { state: RunningState; started: boolean } {
  requireTools();
  const running = runningState();
  if (running) return { state: running, started: false };
  runScript('up');
  const state = runningState();
  if (!state) throw new Error('ha:up left no settings in its state file');
  return { state, started: true };
}

/** The topology's DATABASE_URL for checks that must reach the primary itself, never the service. */
export const primaryUrl = (settings: Record<string, string>) => settings.DATABASE_URL!.replace('target_session_attrs=read-write', 'target_session_attrs=primary');
