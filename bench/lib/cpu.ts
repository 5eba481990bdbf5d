/**
 * CPU accounting that a noisy machine cannot distort much: user+system CPU seconds consumed by a
 * set of processes (from /proc/<pid>/stat), e.g. the service process and the Postgres backends
 * serving the bench database. Divided by the work done it gives CPU-µs per reservation — the
 * figure to compare between code versions when other jobs share the cores. Linux only; returns
 * undefined elsewhere.
 */
import { readFileSync } from 'node:fs';
import postgres from 'postgres';

const TICK = 100; // USER_HZ on Linux

export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
  } catch {
    return undefined;
  }
}

/** CPU seconds of every Postgres backend connected to `dbName` (backends that exited are not counted). */
export async function postgresCpu(adminUrl: string, dbName: string): Promise<{ total: number; byPid: Map<number, number> }> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${dbName}`;
    const byPid = new Map<number, number>();
    for (const r of rows) {
      const c = cpuSecondsOf(r.pid);
      if (c !== undefined) byPid.set(r.pid, c);
    }
    return { total: [...byPid.values()].reduce((a, b) => a + b, 0), byPid };
  } finally {
    await sql.end();
  }
}

/** CPU seconds the given backends used since `before` (new backends count from zero). */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let d = 0;
  for (const [pid, c] of after) d += c - (before.get(pid) ?? 0);
  return d;
}
