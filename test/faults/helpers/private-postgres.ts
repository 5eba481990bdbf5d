/**
 * A private Postgres 15 cluster for tests that stop and restart the database: initdb'd into a
 * temp directory and started on a free port, so the shared instance at :5432 is never touched.
 * As root, the cluster runs as the `postgres` OS user (Postgres refuses to run as root).
 * fsync is off (nothing here survives an OS crash, only process restarts); synchronous_commit
 * stays on, so a committed transaction survives a restart of the server process.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;

function run(cmd: string, args: string[]) {
  const file = path.join(BIN, cmd);
  return asRoot
    ? execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe', timeout: 60_000 })
    : execFileSync(file, args, { stdio: 'pipe', timeout: 60_000 });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export interface PrivatePostgres {
  port: number;
  /** URL of database `name` (default postgres) */
  url(name?: string): string;
  /** stop the server: 'fast' disconnects clients, 'immediate' kills backends without a checkpoint */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  destroy(): void;
}

/**
 * A cluster initdb'd fresh, or — with `standbyOf` — a hot standby of that running cluster
 * (pg_basebackup -R: it streams from it and answers read-only).
 */
export async function startPrivatePostgres(init: { standbyOf?: PrivatePostgres } = {}): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-faults-pg-'));
  if (asRoot) {
    const pw = execFileSync('id', ['-u', 'postgres']).toString().trim();
    const gid = execFileSync('id', ['-g', 'postgres']).toString().trim();
    chownSync(dir, Number(pw), Number(gid));
  }
  const data = path.join(dir, 'data');
  if (init.standbyOf) run('pg_basebackup', ['-h', '127.0.0.1', '-p', String(init.standbyOf.port), '-U', 'postgres', '-D', data, '-R', '--no-sync']);
  else run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60`;
  let running = false;
  const pg: PrivatePostgres = {
    port,
    url: (name = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${name}`,
    start() {
      run('pg_ctl', ['-D', data, '-o', opts, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start']);
      running = true;
    },
    stop(mode = 'fast') {
      run('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
      running = false;
    },
    destroy() {
      try {
        if (running) pg.stop('immediate');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  pg.start();
  return pg;
}
