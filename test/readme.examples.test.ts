/**
 * The README runs as written. Every ```sh block of README.md is taken in order, as a reader would
 * type it into one shell, against a fresh embedded start: `npm start` spawned as a real process
 * with a temporary ATP_DATA_DIR and a free PORT (no DATABASE_URL, no REDIS_URL, no keys), exactly
 * as the README describes. The only substitutions are the ones the README documents: the port in
 * `localhost:8080`, and `<id>` = the `id` of the latest answer that created something (201).
 * Each command runs in bash verbatim otherwise; every curl must answer 2xx, and a following
 * comment line `#   → {…}` is checked against the answer (objects: the fields shown; `…` = the
 * fields or array elements left out). An example that shows a refusal on purpose says so with
 * the status first, `#   → 409 {…}`, and its answer must have exactly that status. Prose around the blocks is free to change. Other `npm`
 * commands (install, test…) are not run here: the test runs from an installed tree and inside
 * `npm test`. Any other command must exit 0.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from './helpers/redis-server.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

// ---------------------------------------------------------------------------------------------
// reading the README

interface Command {
  block: number;
  text: string;
  /** the `#   → …` lines that follow it */
  expected: string[];
}

/** the ```sh blocks, in order */
function shBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```(?:sh|bash|shell)[ \t]*\n([\s\S]*?)^```[ \t]*$/gm)].map((m) => m[1]!);
}

/** the commands of a block: continuation lines joined, comment-only lines kept as expectations of the command before */
function commands(block: string, blockNo: number): Command[] {
  const out: Command[] = [];
  const lines = block.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*$/.test(line)) continue;
    const comment = /^\s*#\s*(.*)$/.exec(line);
    if (comment) {
      const arrow = /^→\s*(.*)$/.exec(comment[1]!);
      if (arrow) {
        const last = out.at(-1);
        if (!last) throw new Error(`README block ${blockNo}: an expected answer before any command: ${line}`);
        last.expected.push(arrow[1]!);
      }
      continue;
    }
    // a continued line stays continued: bash joins it
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line}\n${lines[++i]!}`;
    out.push({ block: blockNo, text: line, expected: [] });
  }
  return out;
}

/**
 * An expectation as a JSON pattern: `…` inside an object drops out (the object is matched on the
 * fields shown anyway), `…` inside an array says "more elements may follow", `"…"` as a string
 * value matches any value.
 */
function parseExpected(text: string): unknown {
  let json = '';
  const stack: string[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '"') {
      const end = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
      if (!end) throw new Error(`unterminated string in expectation: ${text}`);
      json += end[0];
      i += end[0].length - 1;
      continue;
    }
    if (ch === '{' || ch === '[') stack.push(ch);
    if (ch === '}' || ch === ']') stack.pop();
    if (ch === '…') {
      if (stack.at(-1) === '[') json += '"\\u0000more"';
      else {
        // in an object: drop it with one neighbouring comma
        if (text[i + 1] === ',') i++;
        else json = json.replace(/,\s*$/, '');
      }
      continue;
    }
    json += ch;
  }
  try {
    return JSON.parse(json);
  } catch {
    throw new Error(`README expectation is not a JSON pattern: ${text}`);
  }
}

/** null when `actual` matches `pattern`, else where it does not */
function mismatch(actual: unknown, pattern: unknown, at = '$'): string | null {
  if (pattern === '…') return null;
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) return `${at}: expected an array, got ${JSON.stringify(actual)}`;
    const open = pattern.at(-1) === '\u0000more';
    const items = open ? pattern.slice(0, -1) : pattern;
    if (open ? actual.length < items.length : actual.length !== items.length) return `${at}: expected ${open ? 'at least ' : ''}${items.length} elements, got ${actual.length}`;
    for (let i = 0; i < items.length; i++) {
      const m = mismatch(actual[i], items[i], `${at}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (pattern && typeof pattern === 'object') {
    if (!actual || typeof actual !== 'object' || Array.isArray(actual)) return `${at}: expected an object, got ${JSON.stringify(actual)}`;
    for (const [k, v] of Object.entries(pattern)) {
      if (!(k in actual)) return `${at}.${k}: missing`;
      const m = mismatch((actual as Record<string, unknown>)[k], v, `${at}.${k}`);
      if (m) return m;
    }
    return null;
  }
  return Object.is(actual, pattern) ? null : `${at}: expected ${JSON.stringify(pattern)}, got ${JSON.stringify(actual)}`;
}

// ---------------------------------------------------------------------------------------------
// the service, started as the README says

let service: ChildProcess | undefined;
let port = 0;
let dataDir: string;
let work: string;
let serviceLog = '';

function startService(startLine: string): Promise<void> {
  // the start command of the README, e.g. `npm install && npm start`: npm install is not re-run
  expect(startLine).toMatch(/\bnpm start\b/);
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), ATP_DATA_DIR: dataDir };
    // a fresh embedded start: nothing from the test environment may point it elsewhere
    for (const k of ['DATABASE_URL', 'REDIS_URL', 'ATP_API_KEYS', 'NODE_ENV', 'HOST', 'VITEST', 'VITEST_POOL_ID', 'VITEST_WORKER_ID', 'TEST']) delete env[k];
    const c = spawn('npm', ['start'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    service = c;
    let settled = false;
    const onData = (d: Buffer) => {
      serviceLog += d.toString();
      if (!settled && new RegExp(`listening on http://localhost:${port}\\b`).test(serviceLog)) {
        settled = true;
        resolve();
      }
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', onData);
    c.on('exit', (code) => {
      if (!settled) {
        settled = true;
        reject(new Error(`npm start exited with ${code} before listening:\n${serviceLog.slice(-3000)}`));
      }
    });
  });
}

/**
 * SIGTERM to the process group: npm exits at once, the service (node, same group) drains and
 * exits after it; the data directory is removed only when the whole group is gone.
 */
async function stopService() {
  const c = service;
  if (!c) return;
  const group = c.pid!;
  const alive = () => {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-group, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const hung = setTimeout(() => signal('SIGKILL'), 30_000); // a guard against a hung shutdown, not a check
  while (alive()) await new Promise((r) => setTimeout(r, 100)); // waiting for exits, not for time
  clearTimeout(hung);
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'atp-readme-data-'));
  work = await mkdtemp(path.join(tmpdir(), 'atp-readme-run-'));
  port = await freePort();
}, 30_000);

afterAll(async () => {
  await stopService();
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
}, 60_000);

// ---------------------------------------------------------------------------------------------
// running one command

interface Answer {
  status: number;
  body: string;
}

/** curl as a shell function: the command's own arguments, plus where to put status and body */
const CURL_WRAPPER = `curl() {
  local n; n=$(( $(cat "$ATP_README_DIR/n") + 1 )); echo "$n" > "$ATP_README_DIR/n"
  command curl -sS --max-time 60 -o "$ATP_README_DIR/body.$n" -w '%{http_code}' "$@" > "$ATP_README_DIR/status.$n"
}
`;

function bash(script: string, dir: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', script], { env: { ...process.env, ATP_README_DIR: dir }, maxBuffer: 16 * 1024 * 1024 }, (err, _stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
}

let runNo = 0;
async function run(text: string, prelude: string): Promise<{ code: number; stderr: string; answers: Answer[] }> {
  const dir = path.join(work, `cmd-${++runNo}`);
  mkdirSync(dir);
  writeFileSync(path.join(dir, 'n'), '0');
  const { code, stderr } = await bash(`set -o pipefail\n${CURL_WRAPPER}${prelude}\n${text}\n`, dir);
  const n = Number(readFileSync(path.join(dir, 'n'), 'utf8'));
  const answers: Answer[] = [];
  for (let i = 1; i <= n; i++) {
    answers.push({ status: Number(readFileSync(path.join(dir, `status.${i}`), 'utf8')), body: readFileSync(path.join(dir, `body.${i}`), 'utf8') });
  }
  return { code, stderr, answers };
}

// ---------------------------------------------------------------------------------------------

it('the README carries its ```sh examples and they start with the documented start command', () => {
  const all = shBlocks(README).flatMap((b, i) => commands(b, i + 1));
  expect(all.find((c) => /\bnpm\b/.test(c.text))?.text).toMatch(/\bnpm start\b/);
  expect(all.filter((c) => /^\s*curl\b/.test(c.text)).length).toBeGreaterThan(10);
});

it('the pattern reader: `…` leaves fields and elements out, and a mismatch is reported', () => {
  const p = parseExpected('{"a":1,…,"b":[{"c":2,…},…],"id":"…"}');
  expect(mismatch({ a: 1, x: 0, b: [{ c: 2, d: 3 }, { c: 9 }], id: 'r-1' }, p)).toBeNull();
  expect(mismatch({ a: 1, b: [{ c: 3 }], id: 'r' }, p)).toBe('$.b[0].c: expected 2, got 3');
  expect(mismatch({ a: 1, b: [{ c: 2 }, { c: 3 }] }, parseExpected('{"b":[{"c":2}]}'))).toBe('$.b: expected 1 elements, got 2');
  expect(() => parseExpected('lines MUG 6 (kit GIFT-BOX)')).toThrow(/not a JSON pattern/);
});

it('every README shell example runs, in order, against a fresh embedded start', { timeout: 300_000 }, async () => {
  const blocks = shBlocks(README);
  const log: string[] = [];
  let prelude = ''; // shell variables the reader has set so far (H='content-type: …')
  const placeholders = new Map<string, string>();
  let ran = 0;

  for (const [b, block] of blocks.entries()) {
    for (const cmd of commands(block, b + 1)) {
      const where = `README sh block ${cmd.block}: ${cmd.text.split('\n')[0]}`;
      if (/^\s*(?:[A-Z_][A-Z0-9_]*=\S*\s+)*npm\b/.test(cmd.text)) {
        if (/\bnpm start\b/.test(cmd.text) && !service) await startService(cmd.text);
        else log.push(`not run here: ${cmd.text}`);
        continue;
      }
      expect(service, `${where}: a command before the README started the service`).toBeDefined();
      let text = cmd.text.replace(/\blocalhost:8080\b/g, `localhost:${port}`);
      text = text.replace(/<([a-z][a-z0-9-]*)>/g, (whole, name: string) => {
        const v = placeholders.get(name);
        if (v === undefined) throw new Error(`${where}: no value for ${whole} (it is the id of an answer that created something, 201, earlier in the README)`);
        return v;
      });
      const assignment = /^[A-Za-z_][A-Za-z0-9_]*=/.test(text) && !/\s(?:curl|npm)\b/.test(text);
      const result = await run(text, prelude);
      ran++;
      expect(result.code, `${where}\nexit ${result.code}: ${result.stderr}`).toBe(0);
      if (assignment) {
        prelude += `${text}\n`;
        continue;
      }
      // `#   → 409 {…}`: the example shows a refusal on purpose (its last curl answers that status)
      const shown = cmd.expected.map((e) => /^(\d{3})\b\s*(.*)$/.exec(e)).find(Boolean);
      for (const [i, a] of result.answers.entries()) {
        log.push(`${a.status} ${cmd.text.split('\n')[0]!.slice(0, 100)}`);
        if (shown && i === result.answers.length - 1) {
          expect(a.status, `${where}\nanswer: ${a.body}`).toBe(Number(shown[1]));
          continue;
        }
        expect(a.status, `${where}\nanswer: ${a.body}`).toBeGreaterThanOrEqual(200);
        expect(a.status, `${where}\nanswer: ${a.body}`).toBeLessThan(300);
        if (a.status === 201) {
          const id = (JSON.parse(a.body) as { id?: unknown }).id;
          if (typeof id === 'string' || typeof id === 'number') placeholders.set('id', String(id));
        }
      }
      if (cmd.expected.length > 0) {
        const last = result.answers.at(-1);
        expect(last, `${where}: an expected answer (#   →) but no curl answered`).toBeDefined();
        const body = JSON.parse(last!.body) as unknown;
        for (const e of cmd.expected) {
          const pattern = e.replace(/^\d{3}\b\s*/, '');
          if (pattern) expect(mismatch(body, parseExpected(pattern)), `${where}\nexpected: ${e}\nanswer: ${last!.body}`).toBeNull();
        }
      }
    }
  }
  expect(service, 'the README never started the service').toBeDefined();
  expect(ran).toBeGreaterThan(10);
  expect(serviceLog).not.toMatch(/"unhandled error"/);
  console.log(log.join('\n'));
});

it('the README links only to files the project carries, and the design doc is one of them', () => {
  const links = [...README.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!).filter((l) => !/^[a-z]+:/.test(l));
  expect(links).toContain('docs/DESIGN.md');
  for (const l of links) expect(existsSync(path.join(ROOT, l)), l).toBe(true);
  const outside = ['..', 'shared'].join('/');
  expect(README).not.toContain(outside);
  const design = readFileSync(path.join(ROOT, 'docs/DESIGN.md'), 'utf8');
  expect(design).not.toContain(outside);
});

it('no file of the project refers to the shared folder beside the repository (a clone has only the project)', () => {
  const outside = ['..', 'shared'].join('/');
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).split('\0').filter(Boolean);
  expect(files.length).toBeGreaterThan(50);
  const offenders = files.filter((f) => {
    try {
      return readFileSync(path.join(ROOT, f), 'utf8').includes(outside);
    } catch {
      return false; // listed but absent in the work tree
    }
  });
  expect(offenders).toEqual([]);
});
