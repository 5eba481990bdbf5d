/**
 * Slow database: another connection holds a lock the service needs, for longer than
 * ATP_LOCK_TIMEOUT_MS. Proven: every request that needs the lock is answered while the lock is
 * STILL held (so nothing waits for the holder), with a clean 503 problem+json, code
 * `lock-timeout`, Retry-After, and a detail that says what happened; requests that do not need the
 * lock are not held up; the same Idempotency-Key retried after the holder lets go succeeds once,
 * and the invariants hold. Covered: a position row lock (reserve, count, release), a reservation
 * row lock (commit, extend, release), an ACCESS EXCLUSIVE table lock (reads: ATP), and an
 * uncommitted insert of the same Idempotency-Key by another transaction.
 */
import { serve } from '@hono/node-server';
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createService, type Service } from '../../src/service.js';
import { createTestDatabase } from '../helpers/db.js';
import { writeFigures } from './helpers/figures.js';
import { call, isProblem, type Outcome } from './helpers/http.js';
import { checkInvariants, violations } from './helpers/invariants.js';
import { seedStock } from './helpers/seed.js';

const LOCK_TIMEOUT_MS = 300;
/** a probe not answered by then is a hang (the holder keeps its lock until every probe is answered) */
const DEADLINE_MS = 20_000;

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let svc: Service;
let server: ReturnType<typeof serve>;
let base: string;
let holder: postgres.Sql;
const figures = { requestsUnderFault: 0, faultsInjected: {} as Record<string, number>, acknowledgedLost: 0, unitsOversold: 0, answers: {} as Record<string, number> };

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS), ATP_DB_POOL_MAX: '8' }), { sweeper: false });
  await new Promise<void>((r) => {
    server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      base = `http://127.0.0.1:${info.port}`;
      r();
    });
  });
  holder = postgres(db.url, { max: 1, onnotice: () => {} });
  await seedStock(base, ['SLOW-A', 'SLOW-B'], ['DC1'], 1000);
});
afterAll(async () => {
  writeFigures('locks', figures);
  await holder?.end();
  server?.close();
  await svc?.stop();
  await db?.drop();
});

const post = (path: string, key: string, body: unknown) =>
  call(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body), deadlineMs: DEADLINE_MS });
const put = (path: string, body: unknown) => call(base + path, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), deadlineMs: DEADLINE_MS });
const reserveBody = (ref: string, sku: string, qty = 1) => ({ orderRef: ref, channel: 'web', lines: [{ sku, qty }] });

/**
 * Run `probes` while `lock` (in its own transaction on the holder connection) holds its lock;
 * the lock is released only after every probe has been answered. Returns the answers and whether
 * each came while the lock was held (always, by construction, unless a probe hung).
 */
async function whileLocked(kind: string, lock: (tx: postgres.TransactionSql) => Promise<unknown>, probes: () => Promise<Outcome>[]) {
  figures.faultsInjected[kind] = (figures.faultsInjected[kind] ?? 0) + 1;
  let outcomes: Outcome[] = [];
  let heldWhileAnswered = false;
  await holder
    .begin(async (tx) => {
      await lock(tx);
      outcomes = await Promise.all(probes());
      const [still] = await tx`select count(*)::int as n from pg_locks where pid = pg_backend_pid() and granted`;
      heldWhileAnswered = (still!.n as number) > 0;
      throw new Error('rollback');
    })
    .catch((e: Error) => {
      if (e.message !== 'rollback') throw e;
    });
  figures.requestsUnderFault += outcomes.length;
  for (const o of outcomes) {
    const k = o.kind === 'response' ? `${o.status} ${(o.json as { code?: string })?.code ?? ''}`.trim() : o.kind;
    figures.answers[k] = (figures.answers[k] ?? 0) + 1;
  }
  return { outcomes, heldWhileAnswered };
}

function expectLockTimeout(o: Outcome) {
  expect(o.kind).toBe('response');
  if (o.kind !== 'response') return;
  expect({ status: o.status, code: (o.json as { code?: string }).code, problem: isProblem(o), retryAfter: o.headers.get('retry-after') }, o.text).toEqual({
    status: 503,
    code: 'lock-timeout',
    problem: true,
    retryAfter: '1',
  });
  expect((o.json as { detail: string }).detail).toMatch(/lock_timeout/);
}

it('a position row lock held past lock_timeout: reserve, count and release answer 503 lock-timeout; other SKUs flow; retries succeed once', async () => {
  const made = await post('/v1/reservations', 'pos-pre', reserveBody('pos-pre', 'SLOW-A', 2));
  expect(made.kind === 'response' && made.status).toBe(201);
  const preId = ((made as { json: { id: string } }).json).id;

  const { outcomes, heldWhileAnswered } = await whileLocked(
    'position_row_lock',
    (tx) => tx`select 1 from positions where sku = 'SLOW-A' for update`,
    () => [
      ...Array.from({ length: 20 }, (_, i) => post('/v1/reservations', `pos-${i}`, reserveBody(`pos-${i}`, 'SLOW-A'))),
      put('/v1/inventory/SLOW-A/DC1', { onHand: 900 }),
      post(`/v1/reservations/${preId}/release`, 'pos-pre:release', {}),
      post('/v1/reservations', 'pos-other', reserveBody('pos-other', 'SLOW-B')),
    ],
  );
  expect(heldWhileAnswered).toBe(true);
  const other = outcomes.pop()!;
  expect(other.kind === 'response' && other.status, JSON.stringify(other)).toBe(201);
  for (const o of outcomes) expectLockTimeout(o);

  // the lock is gone: the same keys now succeed, each exactly once
  for (let i = 0; i < 20; i++) {
    const o = await post('/v1/reservations', `pos-${i}`, reserveBody(`pos-${i}`, 'SLOW-A'));
    expect(o.kind === 'response' && o.status).toBe(201);
    expect(o.kind === 'response' && o.headers.get('idempotent-replayed')).toBeNull();
  }
  const rel = await post(`/v1/reservations/${preId}/release`, 'pos-pre:release', {});
  expect(rel.kind === 'response' && rel.status).toBe(200);
});

it('a reservation row lock held past lock_timeout: commit, extend and release answer 503 lock-timeout', async () => {
  const made = await post('/v1/reservations', 'res-pre', { ...reserveBody('res-pre', 'SLOW-A'), holdSeconds: 600 });
  const id = ((made as { json: { id: string } }).json).id;
  const { outcomes, heldWhileAnswered } = await whileLocked(
    'reservation_row_lock',
    (tx) => tx`select 1 from reservations where id = ${id} for update`,
    () => [
      post(`/v1/reservations/${id}/commit`, 'res-commit', {}),
      post(`/v1/reservations/${id}/extend`, 'res-extend', { holdSeconds: 900 }),
      post(`/v1/reservations/${id}/release`, 'res-release', {}),
    ],
  );
  expect(heldWhileAnswered).toBe(true);
  for (const o of outcomes) expectLockTimeout(o);
  const ext = await post(`/v1/reservations/${id}/extend`, 'res-extend', { holdSeconds: 900 });
  expect(ext.kind === 'response' && ext.status).toBe(200);
});

it('an ACCESS EXCLUSIVE lock on positions: ATP reads answer 503 lock-timeout instead of waiting', async () => {
  const { outcomes, heldWhileAnswered } = await whileLocked(
    'table_lock',
    (tx) => tx`lock table positions in access exclusive mode`,
    () => [
      call(`${base}/v1/atp?sku=SLOW-A`, { deadlineMs: DEADLINE_MS }),
      call(`${base}/v1/inventory/SLOW-A/DC1`, { deadlineMs: DEADLINE_MS }),
      post('/v1/reservations', 'tbl-1', reserveBody('tbl-1', 'SLOW-B')),
    ],
  );
  expect(heldWhileAnswered).toBe(true);
  for (const o of outcomes) expectLockTimeout(o);
});

it('another transaction inserting the same Idempotency-Key (uncommitted): 503 lock-timeout, then one reservation', async () => {
  const { outcomes, heldWhileAnswered } = await whileLocked(
    'uncommitted_same_key',
    // a reservation's key lives on its row (unique per caller): another writer's uncommitted row holds it
    (tx) => tx`insert into reservations (id, order_ref, channel, status, caller, idempotency_key, fingerprint, answer, lines) values (gen_random_uuid(), 'dup-1', 'web', 'held', 'anonymous', 'dup-1', 'x', '{}', '[]')`,
    () => [post('/v1/reservations', 'dup-1', reserveBody('dup-1', 'SLOW-B')), post('/v1/reservations', 'dup-1', reserveBody('dup-1', 'SLOW-B'))],
  );
  expect(heldWhileAnswered).toBe(true);
  for (const o of outcomes) expectLockTimeout(o);
  const again = await Promise.all([post('/v1/reservations', 'dup-1', reserveBody('dup-1', 'SLOW-B')), post('/v1/reservations', 'dup-1', reserveBody('dup-1', 'SLOW-B'))]);
  expect(again.map((o) => o.kind === 'response' && o.status)).toEqual([201, 201]);
  expect(again.map((o) => (o as { json: { id: string } }).json.id)[0]).toBe((again[1] as { json: { id: string } }).json.id);
});

it('afterwards: nothing oversold, no duplicate from a retried key, ledger balanced', async () => {
  const inv = await checkInvariants(db.url);
  figures.unitsOversold = inv.unitsOversold;
  expect(violations(inv), inv.details.join('\n')).toEqual({});
  const sql = postgres(db.url, { max: 1 });
  const [r] = await sql`select count(*)::int as n from reservations`;
  await sql.end();
  // pos-pre, pos-0..19, pos-other, res-pre, dup-1
  expect(r!.n).toBe(24);
});
