/** Child processes for the benchmarks: the ATP service and the trivial Hono route, on free ports. */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const ADMIN_KEY = 'bench-admin-key-000001';
export const OMS_KEY = 'bench-oms-key-0000001';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface Child {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export interface ChildOptions {
  /** extra environment */
  env?: Record<string, string>;
  /** write a V8 CPU profile into this directory when the process exits */
  cpuProfDir?: string | undefined;
  label: string;
}

/** Start a TypeScript entry point with `node --import tsx`, wait until `readyPath` answers 200. */
export async function startChild(entry: string, readyPath: string, opts: ChildOptions): Promise<Child> {
  const port = await freePort();
  const args = ['--import', 'tsx'];
  if (opts.cpuProfDir) args.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`, `--cpu-prof-name=${opts.label}-${Date.now()}.cpuprofile`);
  args.push(path.join(ROOT, entry));
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...opts.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  let exited = false;
  const exitedP = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`${opts.label} exited during start:\n${stderr}`);
    try {
      const r = await fetch(url + readyPath);
      if (r.status === 200) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${opts.label} did not become ready:\n${stderr}`);
    }
    await sleep(100);
  }
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exitedP;
      clearTimeout(t);
    },
  };
}

export interface ServiceEnv {
  databaseUrl: string;
  redisUrl?: string | undefined;
  extra?: Record<string, string> | undefined;
}

const benchTag = (databaseUrl: string) => new URL(databaseUrl).pathname.replace(/^\//, '') || 'default';

export function serviceEnv(e: ServiceEnv): Record<string, string> {
  return {
    DATABASE_URL: e.databaseUrl,
    ...(e.redisUrl ? { REDIS_URL: e.redisUrl } : {}),
    ATP_API_KEYS: `${ADMIN_KEY}=admin,${OMS_KEY}=oms`,
    // one stream and one rules key per bench database: every service process of a run shares
    // them, and no run adopts another run's rules or appends to another outbox's stream
    ATP_EVENTS_STREAM: `atp:bench:${benchTag(e.databaseUrl)}:events`,
    ATP_RULES_KEY: `atp:bench:${benchTag(e.databaseUrl)}:rules`,
    ...e.extra,
  };
}

export const startService = (e: ServiceEnv, label: string, cpuProfDir?: string) =>
  startChild('src/index.ts', '/healthz', { env: serviceEnv(e), label, cpuProfDir });

export const startTrivial = (label: string, cpuProfDir?: string) => startChild('bench/trivial-server.ts', '/healthz', { env: {}, label, cpuProfDir });

/** The minimal batched 3-row writer (bench/reference-writer.ts) against the bench database. */
export const startReference = (databaseUrl: string, label: string, cpuProfDir?: string) =>
  startChild('bench/reference-writer.ts', '/healthz', { env: { DATABASE_URL: databaseUrl }, label, cpuProfDir });
