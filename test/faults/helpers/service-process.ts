/**
 * The service as a child process, exactly as it is deployed: `tsx src/index.ts` with its
 * configuration in the environment. The first start binds a free port (PORT=0, read back from
 * the "listening" line); restarts reuse it, so clients keep one base URL across SIGKILLs.
 * Output goes to a log file under .faults/logs for post-mortems.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { FAULTS_DIR } from './figures.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

export interface ServiceProcess {
  readonly url: string;
  readonly port: number;
  /** number of times the process exited without being told to (must stay 0) */
  readonly unexpectedExits: number;
  /** lines the service logged as unhandled errors (500s) */
  readonly unhandledErrors: number;
  readonly logFile: string;
  /** SIGKILL: no graceful path at all; resolves when the process is gone */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** start again on the same port and wait until it listens */
  restart(): Promise<void>;
  /** graceful stop (SIGTERM), SIGKILL after a bound */
  stop(): Promise<void>;
}

function signalGroup(c: ChildProcess, signal: NodeJS.Signals) {
  try {
    process.kill(-c.pid!, signal);
  } catch {
    // already gone
  }
}

export async function startService(name: string, env: Record<string, string>): Promise<ServiceProcess> {
  const logDir = path.join(FAULTS_DIR, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const log: WriteStream = createWriteStream(logFile, { flags: 'w' });
  let child: ChildProcess | undefined;
  let port = 0;
  let unexpectedExits = 0;
  let unhandledErrors = 0;
  let expectingExit = false;

  const launch = () =>
    new Promise<void>((resolve, reject) => {
      expectingExit = false;
      const c = spawn(TSX, ['src/index.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', HOST: '127.0.0.1', ...env, PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
        // tsx runs the service in a child node process: give the pair its own process group so a
        // signal reaches the process that actually holds the port and the database connections
        detached: true,
      });
      child = c;
      let settled = false;
      let buf = '';
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        // never leave it running behind the failed test (it would hold its port, database or data directory)
        try {
          process.kill(-c.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        reject(new Error(`service ${name} did not start listening within 60 s (see ${logFile}); it was killed`));
      }, 60_000);
      c.stdout!.on('data', (d: Buffer) => {
        const s = d.toString();
        log.write(s);
        if (s.includes('"unhandled error"')) unhandledErrors += s.split('"unhandled error"').length - 1;
        if (!settled) {
          buf += s;
          const m = /listening on http:\/\/[^:]+:(\d+)/.exec(buf);
          if (m) {
            port = Number(m[1]);
            settled = true;
            clearTimeout(timer);
            resolve();
          }
        }
      });
      c.stderr!.on('data', (d: Buffer) => log.write(d));
      c.on('exit', (code, signal) => {
        log.write(`\n--- exit code=${code} signal=${signal} expected=${expectingExit}\n`);
        if (!expectingExit && settled) unexpectedExits++;
        if (!settled) {
          settled = true;
          clearTimeout(timer);
          reject(new Error(`service ${name} exited during start (code ${code}); see ${logFile}`));
        }
      });
    });

  const waitExit = (c: ChildProcess) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));

  await launch();

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    get unexpectedExits() {
      return unexpectedExits;
    },
    get unhandledErrors() {
      return unhandledErrors;
    },
    logFile,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      const c = child!;
      expectingExit = true;
      signalGroup(c, signal);
      await waitExit(c);
    },
    async restart() {
      // a start can race the kernel releasing the port after SIGKILL; retry a few times
      for (let attempt = 0; ; attempt++) {
        try {
          await launch();
          return;
        } catch (err) {
          if (attempt >= 4) throw err;
          await new Promise((r) => setTimeout(r, 300));
        }
      }
    },
    async stop() {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) {
        log.end();
        return;
      }
      expectingExit = true;
      signalGroup(c, 'SIGTERM');
      // generous: a graceful stop of an embedded (PGlite) service on a loaded 2-core box has taken > 20 s
      const t = setTimeout(() => signalGroup(c, 'SIGKILL'), 60_000);
      await waitExit(c);
      clearTimeout(t);
      log.end();
    },
  };
}
