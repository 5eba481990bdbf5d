/** A private redis-server on a free port with an fsync-always AOF: acknowledged writes survive a SIGKILL and restart (the outbox relay outage test). */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../bench/lib/proc.js';

export class PersistentRedis {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<PersistentRedis> {
    const r = new PersistentRedis(await freePort(), mkdtempSync(path.join(tmpdir(), 'atp-redis-')));
    await r.up();
    return r;
  }

  get url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** start (or restart) with an fsync-always AOF in the same directory: acknowledged writes survive a kill */
  async up(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'],
      { stdio: 'ignore' },
    );
    for (;;) {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => {});
      try {
        await c.connect();
        if ((await c.ping()) === 'PONG') return;
      } catch {
        await sleep(50);
      } finally {
        c.disconnect();
      }
    }
  }

  /** SIGKILL: a crash, not a clean shutdown */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
