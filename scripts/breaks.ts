/**
 * Deliberate breaks: `npm run test:breaks [-- --only id,id] [-- --baseline] [-- --keep]`.
 *
 * For every break in scripts/breaks.list.ts: apply its edits to a scratch copy of the project
 * (the tracked and untracked-but-not-ignored files, node_modules symlinked), run ONLY the test
 * files of its named tests there (whole files: tests in a file may build on the ones before them)
 * with vitest's JSON reporter, read the named tests' results, and restore the files. A break is
 * - caught:   every named test ran and failed;
 * - SURVIVED: a named test passed with the break applied;
 * - STALE:    an edit's `find` text is not in the file the expected number of times (the code
 *             moved: update the list);
 * - ERROR:    a named test did not run (not found, skipped, the file failed to load) or the run
 *             timed out.
 * Exit status 0 only when every break is caught. `--baseline` first runs every named test on the
 * unbroken copy (they must pass, else a "caught" would mean nothing).
 */
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Break, BREAKS, type NamedTest } from './breaks.list.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUN_TIMEOUT_MS = 300_000;

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};

type Verdict = 'caught' | 'SURVIVED' | 'STALE' | 'ERROR';
interface Row {
  id: string;
  test: string;
  verdict: Verdict;
  seconds: number;
  detail?: string;
}

function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'atp-breaks-'));
  const files = execFileSync('git', ['ls-files', '-z', '-co', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f && existsSync(join(ROOT, f)));
  for (const f of files) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function occurrences(text: string, find: string): number {
  let n = 0;
  for (let i = text.indexOf(find); i >= 0; i = text.indexOf(find, i + find.length)) n++;
  return n;
}

/** Apply a break's edits; returns the originals to restore, or the reason it no longer applies. */
function apply(dir: string, b: Break): { restore: Map<string, string> } | { stale: string } {
  const restore = new Map<string, string>();
  const current = new Map<string, string>();
  for (const e of b.edits) {
    const path = join(dir, e.file);
    if (!existsSync(path)) return { stale: `${e.file} does not exist` };
    const text = current.get(path) ?? readFileSync(path, 'utf8');
    if (!restore.has(path)) restore.set(path, text);
    const n = occurrences(text, e.find);
    const want = e.count ?? 1;
    if (n !== want) return { stale: `${e.file}: found ${n} × (expected ${want}): ${JSON.stringify(e.find.slice(0, 80))}` };
    current.set(path, text.split(e.find).join(e.replace));
  }
  for (const [path, text] of current) writeFileSync(path, text);
  return { restore };
}

/** the vitest process group in flight, killed if this script is interrupted */
let running: number | undefined;

interface AssertionResult {
  title: string;
  status: string;
  failureMessages?: string[];
}
interface JsonReport {
  testResults: { name: string; status: string; message?: string; assertionResults: AssertionResult[] }[];
}

/** Run the named tests in `dir`; per test: 'passed' | 'failed' | a reason it did not run. */
async function runTests(dir: string, tests: readonly NamedTest[]): Promise<{ results: Map<NamedTest, { status: string; message?: string }>; seconds: number }> {
  const out = join(dir, `.breaks-report-${process.pid}.json`);
  rmSync(out, { force: true });
  const files = [...new Set(tests.map((t) => t.file))];
  const started = performance.now();
  const code = await new Promise<number | 'timeout'>((done) => {
    const child = spawn(join(dir, 'node_modules/.bin/vitest'), ['run', ...files, '--reporter=json', `--outputFile=${out}`], {
      cwd: dir,
      env: { ...process.env, FORCE_COLOR: '0', CI: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    running = child.pid;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
      done('timeout');
    }, RUN_TIMEOUT_MS);
    child.on('exit', (c) => {
      running = undefined;
      clearTimeout(timer);
      if (c !== 0 && c !== 1 && process.env.BREAKS_VERBOSE) process.stderr.write(stderr);
      done(c ?? 1);
    });
  });
  const seconds = (performance.now() - started) / 1000;
  const results = new Map<NamedTest, { status: string; message?: string }>();
  if (code === 'timeout' || !existsSync(out)) {
    for (const t of tests) results.set(t, { status: code === 'timeout' ? `timed out after ${RUN_TIMEOUT_MS / 1000} s` : 'vitest wrote no report' });
    return { results, seconds };
  }
  const report = JSON.parse(readFileSync(out, 'utf8')) as JsonReport;
  for (const t of tests) {
    const file = report.testResults.find((f) => f.name === join(dir, t.file) || f.name.endsWith('/' + t.file));
    const a = file?.assertionResults.find((r) => r.title === t.name);
    if (!file) results.set(t, { status: 'test file not in the report' });
    else if (!a) results.set(t, { status: `test not found${file.message ? ` (${file.message.split('\n')[0]})` : ''}` });
    else if (a.status === 'passed' || a.status === 'failed') results.set(t, { status: a.status, message: a.failureMessages?.[0]?.split('\n')[0] });
    else results.set(t, { status: `did not run (${a.status})${file.message ? `: ${file.message.split('\n')[0]}` : ''}` });
  }
  return { results, seconds };
}

const testLabel = (t: NamedTest) => `${t.file.replace(/^test\//, '')} › ${t.name}`;

async function main() {
  const only = option('only')?.split(',');
  const breaks = only ? BREAKS.filter((b) => only.includes(b.id)) : BREAKS;
  if (only && breaks.length !== only.length) throw new Error(`unknown break id in --only: ${only.filter((id) => !BREAKS.some((b) => b.id === id)).join(', ')}`);
  const ids = new Set<string>();
  for (const b of BREAKS) {
    if (ids.has(b.id)) throw new Error(`duplicate break id ${b.id}`);
    ids.add(b.id);
  }
  const dir = scratchCopy();
  console.log(`scratch copy: ${dir}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (running) {
        try {
          process.kill(-running, 'SIGKILL');
        } catch {}
      }
      if (!flag('keep')) rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  const rows: Row[] = [];
  const total = performance.now();
  try {
    if (flag('baseline')) {
      const all = breaks.flatMap((b) => b.tests);
      const unique = [...new Map(all.map((t) => [`${t.file}\0${t.name}`, t])).values()];
      for (const file of [...new Set(unique.map((t) => t.file))]) {
        const tests = unique.filter((t) => t.file === file);
        const { results, seconds } = await runTests(dir, tests);
        for (const [t, r] of results) {
          const ok = r.status === 'passed';
          console.log(`baseline ${ok ? 'passes' : 'FAILS  '} ${seconds.toFixed(1).padStart(6)} s  ${testLabel(t)}${ok ? '' : ` — ${r.status}: ${r.message ?? ''}`}`);
          if (!ok) rows.push({ id: '(baseline)', test: testLabel(t), verdict: 'ERROR', seconds, detail: `fails without any break: ${r.message ?? r.status}` });
        }
      }
    }
    for (const b of breaks) {
      const applied = apply(dir, b);
      if ('stale' in applied) {
        rows.push({ id: b.id, test: b.tests.map(testLabel).join('; '), verdict: 'STALE', seconds: 0, detail: applied.stale });
        console.log(`${b.id}: STALE — ${applied.stale}`);
        continue;
      }
      try {
        const { results, seconds } = await runTests(dir, b.tests);
        for (const t of b.tests) {
          const r = results.get(t)!;
          const verdict: Verdict = r.status === 'failed' ? 'caught' : r.status === 'passed' ? 'SURVIVED' : 'ERROR';
          rows.push({ id: b.id, test: testLabel(t), verdict, seconds, detail: verdict === 'caught' ? r.message : r.status });
          console.log(`${b.id}: ${verdict} (${seconds.toFixed(1)} s) ${testLabel(t)}${r.message && verdict === 'caught' ? `\n    ↳ ${r.message.slice(0, 160)}` : verdict !== 'caught' ? ` — ${r.status}` : ''}`);
        }
      } finally {
        for (const [path, text] of applied.restore) writeFileSync(path, text);
      }
    }
  } finally {
    if (flag('keep')) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }

  const w = { id: Math.max(5, ...rows.map((r) => r.id.length)), test: Math.min(110, Math.max(4, ...rows.map((r) => r.test.length))) };
  console.log(`\n| ${'break'.padEnd(w.id)} | ${'test'.padEnd(w.test)} | result   | time    |`);
  console.log(`|${'-'.repeat(w.id + 2)}|${'-'.repeat(w.test + 2)}|----------|---------|`);
  for (const r of rows) {
    const test = r.test.length > w.test ? r.test.slice(0, w.test - 1) + '…' : r.test;
    console.log(`| ${r.id.padEnd(w.id)} | ${test.padEnd(w.test)} | ${r.verdict.padEnd(8)} | ${(r.seconds.toFixed(1) + ' s').padStart(7)} |`);
  }
  const bad = rows.filter((r) => r.verdict !== 'caught');
  console.log(`\n${rows.length - bad.length}/${rows.length} caught in ${((performance.now() - total) / 1000).toFixed(0)} s`);
  for (const r of bad) console.log(`  ${r.verdict}: ${r.id} — ${r.test}${r.detail ? ` (${r.detail})` : ''}`);
  process.exitCode = bad.length === 0 ? 0 : 1;
}

await main();
