/**
 * Graceful shutdown, against the real entry point (`node --import tsx src/index.ts`) and a
 * test database. SIGTERM arrives in the middle of a burst of reservations (after the 150th 201,
 * with 32 requests in flight on keep-alive connections). Proven:
 * - every 201 the client saw is in the database, held, with its id and orderRef;
 * - nothing else is: the reservations in the database are exactly the ones answered 201, so no
 *   request was committed and then cut off without its answer;
 * - every request got a response (201) or a connection-level error (refused / closed before any
 *   response), never a 5xx or a malformed answer;
 * - the ledger agrees (reserved = number of 201s);
 * - the process exits with code 0 — the entry point exits 1 if draining exceeds
 *   ATP_SHUTDOWN_TIMEOUT_MS, so 0 also means "within the bound".
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import postgres from 'postgres';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { overHttp } from './helpers/api.js';
import { ContractViolation, contractOf } from './helpers/contract.js';
import { createTestDatabase } from './helpers/db.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const BOUND_MS = 20_000;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let child: ChildProcess | undefined;
let out = '';

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await db?.drop();
});

function start(): Promise<{ port: number; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  // `node --import tsx`, not the `tsx` CLI: the CLI is a parent process that relays SIGTERM and
  // SIGKILLs the child if it does not acknowledge the signal within 30 ms (easily missed under load)
  child = spawn(path.join(ROOT, 'node_modules/.bin/node'), ['--import', 'tsx', 'src/index.ts'], {
    cwd: ROOT,
    env: {
      PATH: `${path.join(ROOT, 'node_modules/.bin')}:${process.env.PATH}`,
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      ATP_DB_POOL_MAX: '8',
      ATP_SHUTDOWN_TIMEOUT_MS: String(BOUND_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const c = child;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /listening on http:\/\/localhost:(\d+)/.exec(out);
      if (m) resolve({ port: Number(m[1]), exited });
    };
    c.stdout!.on('data', onData);
    c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    void exited.then(({ code }) => reject(new Error(`service exited (${code}) before listening:\n${out}`)));
  });
}

type Outcome = { i: number; status: number; id?: string } | { i: number; error: string };

it('SIGTERM during a burst: every 201 is durable, nothing is cut, exit 0 within the bound', async () => {
  const { port, exited } = await start();
  const base = `http://127.0.0.1:${port}`;
  const agent = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
  // every answer is checked against the service's /openapi.json (read once, before the burst); the
  // raw undici client stays, to tell connection-level failures (refused / reset) from answers
  const contract = await contractOf(overHttp(base));
  const send = async (method: string, p: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await request(`${base}${p}`, { method: method as 'POST', dispatcher: agent, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const text = await r.body.text();
    const type = r.headers['content-type'];
    contract.assert({ method, path: p, status: r.statusCode, contentType: typeof type === 'string' ? type : null, text });
    return { status: r.statusCode, body: JSON.parse(text) as { id?: string } };
  };
  expect((await send('PUT', '/v1/inventory/SHUT-1/DC1', { onHand: 100_000 })).status).toBe(200);

  const N = 1200;
  const outcomes: Outcome[] = [];
  let ok = 0;
  let sigtermAt = -1;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < N; i = next++) {
      try {
        const r = await send('POST', '/v1/reservations', { orderRef: `sd-${i}`, channel: 'web', lines: [{ sku: 'SHUT-1', qty: 1 }] }, { 'idempotency-key': `sd-${i}` });
        outcomes.push({ i, status: r.status, ...(r.body.id ? { id: r.body.id } : {}) });
        if (r.status === 201 && ++ok === 150) {
          sigtermAt = outcomes.length;
          child!.kill('SIGTERM');
        }
      } catch (err) {
        if (err instanceof ContractViolation) throw err;
        const e = err as { code?: string; cause?: { code?: string } };
        outcomes.push({ i, error: e.code ?? e.cause?.code ?? String(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  await agent.close();
  const { code, signal } = await exited;

  const codes: Record<string, number> = {};
  for (const o of outcomes) codes['error' in o ? o.error : String(o.status)] = (codes['error' in o ? o.error : String(o.status)] ?? 0) + 1;
  console.log(`shutdown burst: signal after answer #${sigtermAt}; outcomes ${JSON.stringify(codes)}`);
  expect(sigtermAt).toBeGreaterThan(0);
  expect(outcomes).toHaveLength(N);
  const answered = outcomes.filter((o): o is Extract<Outcome, { status: number }> => 'status' in o);
  const failed = outcomes.filter((o): o is Extract<Outcome, { error: string }> => 'error' in o);
  // every answer is a success; every failure is at the connection level (refused / closed before an answer)
  expect(new Set(answered.map((o) => o.status))).toEqual(new Set([201]));
  for (const f of failed) expect(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED']).toContain(f.error);
  // the burst really spanned the shutdown: answers after the signal, and refusals once closed
  expect(answered.length).toBeGreaterThan(150);
  expect(failed.length).toBeGreaterThan(0);

  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    const rows = await sql<{ id: string; order_ref: string; status: string }[]>`select id, order_ref, status from reservations where order_ref like 'sd-%'`;
    const inDb = new Map(rows.map((r) => [r.order_ref, r]));
    for (const a of answered) {
      const r = inDb.get(`sd-${a.i}`);
      expect(r, `201 for sd-${a.i} not in the database`).toBeDefined();
      expect(r!.id).toBe(a.id);
      expect(r!.status).toBe('held');
    }
    // exactly the answered ones: no request was committed and then cut without its answer
    expect(rows.length).toBe(answered.length);
    const [p] = await sql<{ reserved: number }[]>`select reserved::int as reserved from positions where sku = 'SHUT-1'`;
    expect(p!.reserved).toBe(answered.length);
  } finally {
    await sql.end();
  }

  expect(signal).toBeNull();
  expect(code, out.slice(-3000)).toBe(0);
  expect(out).toContain('"msg":"stopped"');
}, 90_000);
