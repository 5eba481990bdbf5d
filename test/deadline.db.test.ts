/**
 * The request deadline (ATP_REQUEST_DEADLINE_MS) and the failover refusals, against real Postgres.
 *
 * 1. Another connection holds the row lock a reservation needs, longer than the deadline (and
 *    shorter than lock_timeout): the request is answered 503 `deadline-exceeded` with Retry-After
 *    while the lock is still held; the work goes on, commits once the lock is released, and the
 *    client's retry with the same Idempotency-Key is answered as its replay — one reservation.
 * 2. A read caught behind an ACCESS EXCLUSIVE lock: 503 `deadline-exceeded` too, not a hang.
 * 3. A node that turned read-only under the service (default_transaction_read_only on the
 *    database, the sessions re-opened): 503 `database-read-only` + Retry-After (SQLSTATE 25006),
 *    never a 500; nothing stored; after it is writable again the same key reserves once.
 */
import { describe, expect, it } from 'vitest';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const DEADLINE_MS = 1000;
const t = serviceFixture({ ATP_REQUEST_DEADLINE_MS: String(DEADLINE_MS), ATP_LOCK_TIMEOUT_MS: '30000', ATP_STATEMENT_TIMEOUT_MS: '60000', ATP_DB_POOL_MAX: '4' });

const reserveBody = (ref: string, sku: string, qty = 1) => ({ orderRef: ref, channel: 'web', lines: [{ sku, qty }] });

/**
 * A request outside the lock windows, sent again while the deadline answers it (on a loaded
 * machine any request may take longer than the test's short deadline) — what a client does.
 */
async function answered<T extends { status: number; body: { code?: string } }>(send: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    const r = await send();
    if (r.status !== 503 || r.body?.code !== 'deadline-exceeded' || i >= 20) return r;
  }
}

function expect503(reply: { status: number; headers: Headers; body: { code?: string; detail?: string } }, code: string) {
  expect({ status: reply.status, type: reply.headers.get('content-type'), code: reply.body.code, retryAfter: reply.headers.get('retry-after') }, JSON.stringify(reply.body)).toEqual({
    status: 503,
    type: 'application/problem+json',
    code,
    retryAfter: expect.stringMatching(/^[1-9]\d*$/),
  });
}

describe('request deadline', () => {
  it('a reservation stuck on a row lock past the deadline: 503 deadline-exceeded while the lock is held; the late commit is the retry\'s replay, once', async () => {
    expect((await answered(() => t.api.setStock('DL-A', 'DC1', 10))).status).toBe(200);
    const holder = await t.sql.reserve();
    try {
      await holder`begin`;
      await holder`select 1 from positions where sku = 'DL-A' for update`;
      const first = await t.api.reserve(reserveBody('dl-1', 'DL-A', 3), 'dl-key-1');
      expect503(first, 'deadline-exceeded');
      expect(first.body.detail).toMatch(/Idempotency-Key/);
      // answered while the lock is still held: nothing committed yet
      const [held] = await t.sql`select count(*)::int as n from reservations where order_ref = 'dl-1'`;
      expect(held!.n).toBe(0);
      await holder`commit`;
    } finally {
      holder.release();
    }
    // the work that was answered 503 goes on and commits once the lock is gone
    await t.svc.allocator.drain();
    const [after] = await t.sql`select count(*)::int as n from reservations where order_ref = 'dl-1'`;
    expect(after!.n).toBe(1);
    const retry = await answered(() => t.api.reserve(reserveBody('dl-1', 'DL-A', 3), 'dl-key-1'));
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    const [pos] = await t.sql`select reserved from positions where sku = 'DL-A' and location = 'DC1'`;
    expect(pos!.reserved).toBe(3);
    await expectInvariants(t.db.url, 'DL-');
  });

  it('a read caught behind an ACCESS EXCLUSIVE lock: 503 deadline-exceeded, not a hang', async () => {
    expect((await answered(() => t.api.setStock('DL-B', 'DC1', 5))).status).toBe(200);
    const holder = await t.sql.reserve();
    try {
      await holder`begin`;
      await holder`lock table positions in access exclusive mode`;
      expect503(await t.api.atp(['DL-B']), 'deadline-exceeded');
      await holder`rollback`;
    } finally {
      holder.release();
    }
    expect((await answered(() => t.api.atp(['DL-B']))).status).toBe(200);
  });
});

describe('a read-only node (SQLSTATE 25006)', () => {
  it('answers 503 database-read-only with Retry-After, stores nothing; writable again, the same key reserves once', async () => {
    expect((await answered(() => t.api.setStock('RO-A', 'DC1', 10))).status).toBe(200);
    const dbName = new URL(t.db.url).pathname.slice(1);
    const reopenSessions = () => t.sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = ${dbName} and application_name = 'atp-service'`;
    await t.sql.unsafe(`alter database "${dbName}" set default_transaction_read_only = on`);
    try {
      await reopenSessions();
      // the first request may meet a session that was just terminated (503 database-unavailable);
      // every answer is a 503 with Retry-After, and within the pool's size the read-only one comes
      const codes: string[] = [];
      for (let i = 0; i < 6 && !codes.includes('database-read-only'); i++) {
        const r = await t.api.reserve(reserveBody('ro-1', 'RO-A', 2), 'ro-key-1');
        expect(r.status, JSON.stringify(r.body)).toBe(503);
        expect(r.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
        codes.push(r.body.code);
      }
      expect(codes).toContain('database-read-only');
      const [none] = await t.sql`select count(*)::int as n from reservations where order_ref = 'ro-1'`;
      expect(none!.n).toBe(0);
    } finally {
      await t.sql.unsafe(`alter database "${dbName}" reset default_transaction_read_only`);
      await reopenSessions();
    }
    let r = await t.api.reserve(reserveBody('ro-1', 'RO-A', 2), 'ro-key-1');
    // a terminated session may answer once more with 503; the retry with the same key is what a client does
    for (let i = 0; i < 6 && r.status === 503; i++) r = await t.api.reserve(reserveBody('ro-1', 'RO-A', 2), 'ro-key-1');
    expect(r.status).toBe(201);
    const [one] = await t.sql`select count(*)::int as n from reservations where order_ref = 'ro-1'`;
    expect(one!.n).toBe(1);
    await expectInvariants(t.db.url, 'RO-');
  });
});
