/**
 * A private redis-server on a free port, for tests that stop and restart Redis: the shared
 * instance at :6379 is never touched. `stop()` kills it (SIGKILL: an outage, not a graceful
 * shutdown); `start()` brings it up again on the same port — empty by default, or, with
 * `{ persist: true }`, from its append-only file (appendfsync always: every acknowledged write
 * survives the kill, as with a production Redis configured for durability).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './private-postgres.js';
import { sleep } from './scale.js';

export interface PrivateRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop and remove the data directory */
  destroy(): Promise<void>;
}

const ping = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
  });

export async function startPrivateRedis(opts: { persist?: boolean } = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = opts.persist ? mkdtempSync(path.join(tmpdir(), 'atp-redis-')) : undefined;
  const persistence = dir ? ['--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  let child: ChildProcess | undefined;
  const r: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--protected-mode', 'no'], { stdio: 'ignore' });
      for (let i = 0; i < 100; i++) {
        if (await ping(port)) return;
        await sleep(50);
      }
      throw new Error(`private redis on ${port} did not start`);
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((res) => c.once('exit', () => res()));
      c.kill('SIGKILL');
      await gone;
    },
    async destroy() {
      await r.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}
