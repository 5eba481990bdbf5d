/**
 * One process per embedded data directory (issue 16 item 1). Invariant: two service processes
 * never run on one ATP_DATA_DIR at the same time (each would work on its own copy and lose the
 * other's acknowledged writes), while a lock left by a dead process never stops a start.
 * The service runs as real processes (`tsx src/index.ts`), as deployed:
 * - a second process on a directory in use exits non-zero with a message naming the directory
 *   and the pid that holds it, and the first one goes on serving;
 * - after the first exits (SIGTERM), the directory can be used again;
 * - a lock naming a dead pid (a crash) is taken over; a second open in one process is refused;
 * - a takeover removes only the stale lock it read, under a mutex: six starters finding one stale
 *   lock at once leave exactly one holder.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DataDirLocked, lockDataDir, takeOver } from '../src/db/data-dir-lock.js';
import { startService, type ServiceProcess } from './faults/helpers/service-process.js';
import { client, overHttp } from './helpers/api.js';

let dir: string;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atp-lock-'));
});
afterAll(async () => {
  for (const p of running) await p.stop();
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ ATP_DATA_DIR: dir, LOG_LEVEL: 'warn' });
const lockFile = () => join(dir, 'atp.lock');
/** the child's log: its stderr may land a moment after the exit event */
async function logOf(file: string): Promise<string> {
  for (let i = 0; ; i++) {
    const text = readFileSync(file, 'utf8');
    if (text.includes('cannot start') || i > 100) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a second process on the same data directory refuses to start; after the first exits the directory is usable again', async () => {
  const first = await startService('lock-first', env());
  running.push(first);
  const holder = JSON.parse(readFileSync(lockFile(), 'utf8')) as { pid: number };
  expect(holder.pid).toBeGreaterThan(0);

  const second = await startService('lock-second', env()).then(
    (p) => {
      running.push(p);
      return undefined;
    },
    (err: Error) => err,
  );
  expect(second?.message, 'the second process must not start').toMatch(/exited during start \(code [1-9]\d*\)/);
  const log = await logOf(second!.message.match(/see (\S+)$/)![1]!);
  expect(log).toContain(`ATP_DATA_DIR ${dir} is in use by another process (pid ${holder.pid}`);

  // the first one still serves
  expect((await client(overHttp(first.url)).setStock('LOCK-1', 'DC1', 3)).status).toBe(200);

  await first.stop();
  expect(existsSync(lockFile()), 'released on exit').toBe(false);
  const third = await startService('lock-third', env());
  running.push(third);
  const atp = (await client(overHttp(third.url)).atp(['LOCK-1'])).body as { skus: { onHand: number }[] };
  expect(atp.skus[0]!.onHand).toBe(3);
  await third.stop();
}, 180_000);

it('a stale lock of a dead process is taken over', async () => {
  // a pid that existed and is gone
  const dead = spawnSync('true').pid!;
  writeFileSync(lockFile(), JSON.stringify({ pid: dead, startedAt: '2020-01-01T00:00:00.000Z' }));
  const p = await startService('lock-stale', env());
  running.push(p);
  const now = JSON.parse(readFileSync(lockFile(), 'utf8')) as { pid: number };
  expect(now.pid).not.toBe(dead);
  expect((await client(overHttp(p.url)).call('GET', '/healthz')).status).toBe(200);
  await p.stop();
  expect(existsSync(lockFile())).toBe(false);
}, 120_000);

it('in one process: a second open of a held directory is refused, a lock naming this pid that it does not hold is stale', () => {
  const cfg = loadConfig(env());
  const lock = lockDataDir(cfg.ATP_DATA_DIR);
  const alias = `${cfg.ATP_DATA_DIR}-alias`;
  symlinkSync(cfg.ATP_DATA_DIR, alias);
  try {
    expect(() => lockDataDir(cfg.ATP_DATA_DIR)).toThrow(DataDirLocked);
    // the same directory through a symlink is the same lock (not a stale lock of this pid)
    expect(() => lockDataDir(alias)).toThrow(DataDirLocked);
  } finally {
    lock.release();
    unlinkSync(alias);
  }
  expect(existsSync(lockFile())).toBe(false);
  // a container restarted with the same pid finds its previous life's lock
  writeFileSync(lockFile(), JSON.stringify({ pid: process.pid, startedAt: 'earlier' }));
  const again = lockDataDir(cfg.ATP_DATA_DIR);
  expect(JSON.parse(readFileSync(lockFile(), 'utf8')).startedAt).not.toBe('earlier');
  again.release();
});

it('a takeover removes only the stale lock it read, and only under the takeover mutex', async () => {
  const d = await mkdtemp(join(tmpdir(), 'atp-takeover-'));
  try {
    const file = join(d, 'atp.lock');
    const dead = spawnSync('true').pid!;
    const stale = { pid: dead, startedAt: 'crashed' };
    // another starter already replaced the stale lock with its live one: the takeover leaves it
    writeFileSync(file, JSON.stringify({ pid: process.ppid, startedAt: 'live' }));
    expect(takeOver(file, stale)).toBe(true);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ pid: process.ppid, startedAt: 'live' });
    // another process holds the mutex: nothing is removed, look again later
    writeFileSync(file, JSON.stringify(stale));
    mkdirSync(`${file}.takeover`);
    expect(takeOver(file, stale)).toBe(false);
    expect(existsSync(file)).toBe(true);
    rmdirSync(`${file}.takeover`);
    // the stale lock itself: removed, the mutex released
    expect(takeOver(file, stale)).toBe(true);
    expect(existsSync(file)).toBe(false);
    expect(existsSync(`${file}.takeover`)).toBe(false);
    // six processes finding one stale lock at once: exactly one holds the directory
    writeFileSync(file, JSON.stringify(stale));
    const script = join(d, 'starter.mjs');
    writeFileSync(
      script,
      `const { lockDataDir } = await import(${JSON.stringify(new URL('../src/db/data-dir-lock.ts', import.meta.url).pathname)});
       while (Date.now() < Number(process.argv[2])) {}
       try { lockDataDir(${JSON.stringify(d)}); console.log('WIN'); await new Promise((r) => setTimeout(r, 3000)); } catch (e) { console.log(e.name); }`,
    );
    const startAt = Date.now() + 2000;
    const node = join(process.cwd(), 'node_modules/node/bin/node');
    const outs = await Promise.all(
      Array.from({ length: 6 }, () => new Promise<string>((resolve) => {
        const c = spawn(existsSync(node) ? node : process.execPath, [script, String(startAt)]);
        let o = '';
        c.stdout.on('data', (x) => (o += x));
        c.stderr.on('data', (x) => (o += x));
        c.on('exit', () => resolve(o.trim()));
      })),
    );
    expect(outs.filter((o) => o === 'WIN'), outs.join(' | ')).toHaveLength(1);
    expect(outs.filter((o) => o === 'DataDirLocked')).toHaveLength(5);
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}, 30_000);
