/**
 * One process per embedded data directory (issue 16 item 1). Two PGlite instances on one
 * directory each work on their own copy in memory and overwrite each other's files: stock
 * written by one is invisible to the other and acknowledged reservations vanish on restart.
 *
 * The lock is a file `<ATP_DATA_DIR>/atp.lock` holding `{"pid":…,"startedAt":…}`:
 * - taken by creating the file with `wx` (O_CREAT|O_EXCL: atomic, exactly one creator wins);
 * - a lock whose pid is alive (`process.kill(pid, 0)`) refuses the start with `DataDirLocked`;
 *   a lock held by this very process (a second open in one process) refuses it too;
 * - a stale lock (its process is gone: a crash or SIGKILL) is taken over: under a takeover mutex
 *   (`atp.lock.takeover`, a directory made with mkdir), read again and removed only if it still
 *   names the dead process, then created again with `wx`. Any number of processes that find the
 *   same stale lock therefore leave exactly one holder (an earlier rename-based takeover let a
 *   third starter win beside the first: test/embedded.lock.test.ts starts six at once);
 * - released (removed, only if it still names this process) on `release()`, and on process exit
 *   as a last resort (a `process.exit` from a shutdown bound).
 * A lock left by our own pid that this process does not hold (a container restarted with the same
 * pid 1) counts as stale. Scope: processes on one host and one pid namespace; a directory shared
 * between hosts or containers is not protected (the pid means nothing there).
 */
import { closeSync, mkdirSync, openSync, readFileSync, realpathSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';

export class DataDirLocked extends Error {
  override name = 'DataDirLocked';
}

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

/** lock files held by this process (absolute paths) */
const held = new Set<string>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): { pid: number; startedAt?: string } | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown; startedAt?: unknown };
    return Number.isSafeInteger(parsed.pid) && (parsed.pid as number) > 0 ? { pid: parsed.pid as number, startedAt: String(parsed.startedAt ?? '') } : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    return undefined;
  }
}

/** a takeover mutex older than this was left by a process that died in the middle of a takeover (held for microseconds otherwise) */
const TAKEOVER_STALE_MS = 10_000;

/**
 * Remove the stale lock `owner` names, under the takeover mutex `<lock>.takeover` (a directory:
 * mkdir is atomic, exactly one process holds it). Only a mutex holder ever removes a lock file,
 * and it removes it only if it still names the stale owner; a lock file cannot change while it
 * exists except by removal, so a live lock is never removed. Returns false when another process
 * holds the mutex (look again shortly).
 */
export function takeOver(file: string, owner: { pid: number; startedAt?: string }): boolean {
  const mutex = `${file}.takeover`;
  try {
    mkdirSync(mutex);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    try {
      if (Date.now() - statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) rmdirSync(mutex);
    } catch {
      // gone meanwhile
    }
    return false;
  }
  try {
    let now: ReturnType<typeof readOwner>;
    try {
      now = readOwner(file);
    } catch {
      return true; // removed meanwhile: create it again
    }
    if (now?.pid === owner.pid && now.startedAt === owner.startedAt) unlinkSync(file);
    return true;
  } finally {
    rmdirSync(mutex);
  }
}

/**
 * Take the lock of `dataDir` (created if missing). Throws `DataDirLocked`, naming the directory,
 * the holder's pid and what to do, when another live process (or this one) holds it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  // the real path: two spellings of one directory (a symlink) are one lock, in this process too
  const dir = realpathSync(dataDir);
  const file = path.join(dir, 'atp.lock');
  if (held.has(file)) throw new DataDirLocked(`ATP_DATA_DIR ${dir} is already open in this process (one service per data directory)`);
  const content = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString() });
  for (let attempt = 0; ; attempt++) {
    if (attempt > 20) throw new DataDirLocked(`could not take the lock ${file}: it keeps changing hands`);
    try {
      const fd = openSync(file, 'wx', 0o644);
      try {
        writeSync(fd, content);
      } finally {
        closeSync(fd);
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: ReturnType<typeof readOwner>;
    try {
      owner = readOwner(file);
    } catch {
      continue; // removed meanwhile: try to create it again
    }
    if (owner === undefined) {
      // empty or unreadable: a process between create and write (look again shortly), or a torn write before a crash
      if (attempt < 5) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
        continue;
      }
      throw new DataDirLocked(`ATP_DATA_DIR ${dir} has a lock file ${file} that names no process; if no ATP service is running on this directory, delete it`);
    }
    if (owner.pid !== process.pid && alive(owner.pid)) {
      throw new DataDirLocked(
        `ATP_DATA_DIR ${dir} is in use by another process (pid ${owner.pid}, started ${owner.startedAt}): one service per data directory. ` +
          `Stop that process, or give this one another ATP_DATA_DIR (or a DATABASE_URL for several instances).`,
      );
    }
    // stale: only the holder of the takeover mutex may remove it, after reading it again
    if (takeOver(file, owner)) continue;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5 + Math.floor(Math.random() * 20));
  }
  held.add(file);
  const onExit = () => release();
  function release() {
    if (!held.delete(file)) return;
    process.off('exit', onExit);
    try {
      if (readOwner(file)?.pid === process.pid) unlinkSync(file);
    } catch {
      // already gone
    }
  }
  process.on('exit', onExit);
  return { file, release };
}
