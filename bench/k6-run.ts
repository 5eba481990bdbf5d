/**
 * One command for a k6 script against a fresh service: `npm run bench:k6 -- mixed.js [k6 run flags, e.g. -e RATE=1000]`.
 *
 * Creates a fresh database, starts the service as a child process (NODE_ENV=production, the
 * bench's API keys, its own Redis stream and rules key, the bench's priority rules in force), runs
 * `k6 run` on bench/k6/<script> with BASE_URL/ADMIN_KEY/OMS_KEY set and k6's HTML dashboard
 * exported (K6_WEB_DASHBOARD=true, K6_WEB_DASHBOARD_EXPORT), then checks the invariants in
 * Postgres (zero oversell, reserved == Σ allocations, one event per reservation) and drops the
 * database. Writes bench/results/k6-<script>-<UTC time>.json (k6's summary, its exit code, the load
 * average, the invariants) and k6's dashboard next to it as .html. The k6 binary is `$K6`, else
 * `k6` on the PATH. Exits with k6's exit code (99: a threshold failed), or 1 if an invariant failed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_KEY, OMS_KEY, ROOT, startService } from './lib/proc.js';
import { checkInvariants, createBenchDatabase, putRules } from './lib/db.js';
import { loadAverage, resultPaths } from './lib/results.js';

const [script, ...k6Args] = process.argv.slice(2);
if (!script || !existsSync(path.join(ROOT, 'bench/k6', script))) {
  console.error('usage: npm run bench:k6 -- <script in bench/k6, e.g. mixed.js> [k6 run flags, e.g. -e RATE=1000]');
  process.exit(2);
}
const K6 = process.env.K6 ?? 'k6';
const name = `k6-${path.basename(script, '.js')}`;
const files = resultPaths(name, process.env.BENCH_JSON);
const dashboard = files.html;
const summaryFile = `${files.json}.k6-summary.tmp`;
const startedAt = new Date().toISOString();
const load0 = loadAverage();
mkdirSync(path.dirname(files.json), { recursive: true });
const db = await createBenchDatabase();
let code = 1;
let invariants;
const args = ['run', '--summary-export', summaryFile, '-e', `ADMIN_KEY=${ADMIN_KEY}`, '-e', `OMS_KEY=${OMS_KEY}`, ...k6Args];
try {
  const svc = await startService({ databaseUrl: db.url, redisUrl: process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, name);
  try {
    await putRules(svc.url);
    const full = [...args, '-e', `BASE_URL=${svc.url}`, path.join(ROOT, 'bench/k6', script)];
    console.error(`${K6} ${full.join(' ')}\n(dashboard export: ${path.relative(process.cwd(), dashboard)})`);
    code = await new Promise<number>((resolve, reject) => {
      const child = spawn(K6, full, {
        stdio: 'inherit',
        // the dashboard's web server is off (port -1): the run only exports the page
        env: { K6_WEB_DASHBOARD: 'true', K6_WEB_DASHBOARD_EXPORT: dashboard, K6_WEB_DASHBOARD_PORT: '-1', K6_WEB_DASHBOARD_PERIOD: '2s', ...process.env },
      });
      child.once('error', reject);
      child.once('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1)));
    });
  } finally {
    await svc.stop();
  }
  invariants = await checkInvariants(db.url, []);
} finally {
  await db.drop();
}
const summary = existsSync(summaryFile) ? (JSON.parse(readFileSync(summaryFile, 'utf8')) as unknown) : null;
rmSync(summaryFile, { force: true });
const command = `npm run bench:k6 -- ${process.argv.slice(2).join(' ')}`;
const result = {
  command,
  k6: `k6 ${args.join(' ')} -e BASE_URL=<service> bench/k6/${script}`,
  startedAt,
  loadAvg: { start: load0, end: loadAverage() },
  exitCode: code,
  thresholds: code === 0 ? 'passed' : code === 99 ? 'failed' : `k6 exited ${code}`,
  invariants,
  dashboard: path.basename(dashboard),
  summary,
};
// k6's own dashboard is this run's HTML report; the JSON goes next to it
writeFileSync(files.json, JSON.stringify(result, null, 2) + '\n');
if (!existsSync(dashboard)) console.error(`k6 exported no dashboard to ${dashboard}`);
console.error(`k6 exit ${code} (${result.thresholds}); invariants in Postgres: ${invariants?.ok ? 'hold' : `FAILED ${invariants?.failures.join('; ')}`}`);
console.error(`results: ${path.relative(process.cwd(), files.json)}\nreport:  ${path.relative(process.cwd(), dashboard)}`);
process.exit(invariants?.ok === false ? 1 : code);
