/**
 * Invariants proven (real Postgres):
 * 1. The last line of defence against an oversell is the database: the CHECK
 *    positions_no_oversell refuses any write that leaves reserved + quality_hold > on_hand, even
 *    one the code decided (23514), so a wrong decision can never be committed.
 * 2. An answer is an acknowledgement of a COMMITTED change: when the commit itself fails (a
 *    deferred constraint trigger, installed in this test's own database, raises at COMMIT), the
 *    caller never gets a 201/200, and nothing of the change is visible — reservation, allocation,
 *    reserved units, outbox event or stored Idempotency-Key — so a retry is decided afresh.
 * These are what catch the `check-constraint`, `ack-before-commit` and `ack-before-commit-verbs`
 * deliberate breaks (scripts/breaks.list.ts).
 */
import { describe, expect, it } from 'vitest';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();

/** Make COMMIT fail for reservations whose orderRef starts with `fail-at-commit` (insert) or that are being settled (update). */
async function installCommitFailure() {
  await t.sql.unsafe(`
    create or replace function test_fail_at_commit() returns trigger language plpgsql as $$
    begin
      if new.order_ref like 'fail-at-commit%' and (tg_op = 'INSERT' or new.status <> old.status) then
        raise exception 'injected failure at commit';
      end if;
      return null;
    end $$;
    drop trigger if exists test_fail_at_commit on reservations;
    create constraint trigger test_fail_at_commit after insert or update on reservations
      deferrable initially deferred for each row execute function test_fail_at_commit();`);
}

const removeCommitFailure = () => t.sql.unsafe('drop trigger if exists test_fail_at_commit on reservations');

/**
 * A POST sent past the contract-checking client: the injected COMMIT failure is answered 500
 * (internal), which /openapi.json does not declare for any operation, so the checking client would
 * refuse the very answer this test expects. Status, content type and body are asserted here.
 */
async function rawPost(path: string, body: unknown, key: string) {
  const res = await t.svc.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: (await res.json()) as { code?: string } };
}

describe('the database refuses what the code must never commit', () => {
  it('the database itself refuses an oversell (CHECK positions_no_oversell), whatever the code decided', async () => {
    expect((await t.api.setStock('GUARD', 'DC1', 5, { qualityHold: 1 })).status).toBe(200);
    // 4 + 1 = 5: allowed exactly up to onHand
    await t.sql`update positions set reserved = 4 where sku = 'GUARD'`;
    // one more unit would be an oversell: refused by the database
    await expect(t.sql`update positions set reserved = 5 where sku = 'GUARD'`).rejects.toMatchObject({ code: '23514', constraint_name: 'positions_no_oversell' });
    await expect(t.sql`update positions set quality_hold = 2 where sku = 'GUARD'`).rejects.toMatchObject({ code: '23514', constraint_name: 'positions_no_oversell' });
    const [p] = await t.sql`select on_hand, reserved, quality_hold from positions where sku = 'GUARD'`;
    expect(p).toEqual({ on_hand: 5, reserved: 4, quality_hold: 1 });
    await t.sql`update positions set reserved = 0 where sku = 'GUARD'`;
  });
});

describe('acknowledged means committed', () => {
  it('a reservation whose COMMIT fails is never acknowledged and leaves nothing', async () => {
    expect((await t.api.setStock('ACK', 'DC1', 10)).status).toBe(200);
    const [{ n: eventsBefore }] = (await t.sql`select count(*)::int as n from outbox`) as unknown as [{ n: number }];
    await installCommitFailure();
    try {
      const r = await rawPost('/v1/reservations', { orderRef: 'fail-at-commit-1', channel: 'web', lines: [{ sku: 'ACK', qty: 3 }] }, 'ack-key-1');
      expect(r.status).toBe(500);
      expect(r.contentType).toMatch(/^application\/problem\+json/);
      expect(r.body.code).toBe('internal');
    } finally {
      await removeCommitFailure();
    }
    const [n] = await t.sql`select count(*)::int as n from reservations where order_ref = 'fail-at-commit-1'`;
    expect(n!.n).toBe(0);
    const [k] = await t.sql`select ((select count(*) from idempotency_keys where key = 'ack-key-1') + (select count(*) from reservations where idempotency_key = 'ack-key-1'))::int as n`;
    expect(k!.n).toBe(0);
    const [e] = await t.sql`select count(*)::int as n from outbox`;
    expect(e!.n).toBe(eventsBefore);
    expect(await expectInvariants(t.db.url, 'ACK')).toEqual([{ sku: 'ACK', location: 'DC1', on_hand: 10, reserved: 0 }]);
    // the retry with the same key, once the commit can succeed, is decided afresh (not a replay)
    const retry = await t.api.reserve({ orderRef: 'fail-at-commit-1', channel: 'web', lines: [{ sku: 'ACK', qty: 3 }] }, 'ack-key-1');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).not.toBe('true');
    expect(await expectInvariants(t.db.url, 'ACK')).toEqual([{ sku: 'ACK', location: 'DC1', on_hand: 10, reserved: 3 }]);
  });

  it('a release whose COMMIT fails is never acknowledged and leaves the reservation held', async () => {
    expect((await t.api.setStock('ACK2', 'DC1', 10)).status).toBe(200);
    const r = await t.api.reserve({ orderRef: 'fail-at-commit-2', channel: 'web', lines: [{ sku: 'ACK2', qty: 4 }] });
    expect(r.status).toBe(201);
    const [{ n: eventsBefore }] = (await t.sql`select count(*)::int as n from outbox`) as unknown as [{ n: number }];
    await installCommitFailure();
    try {
      const rel = await rawPost(`/v1/reservations/${r.body.id}/release`, {}, 'ack-rel-1');
      expect(rel.status).toBe(500);
      expect(rel.contentType).toMatch(/^application\/problem\+json/);
      expect(rel.body.code).toBe('internal');
    } finally {
      await removeCommitFailure();
    }
    const got = await t.api.get(r.body.id);
    expect(got.body.status).toBe('held');
    const [k] = await t.sql`select count(*)::int as n from idempotency_keys where key = 'ack-rel-1'`;
    expect(k!.n).toBe(0);
    const [e] = await t.sql`select count(*)::int as n from outbox`;
    expect(e!.n).toBe(eventsBefore);
    expect(await expectInvariants(t.db.url, 'ACK2')).toEqual([{ sku: 'ACK2', location: 'DC1', on_hand: 10, reserved: 4 }]);
    const again = await t.api.release(r.body.id, {}, 'ack-rel-1');
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('released');
    expect(await expectInvariants(t.db.url, 'ACK2')).toEqual([{ sku: 'ACK2', location: 'DC1', on_hand: 10, reserved: 0 }]);
  });
});
