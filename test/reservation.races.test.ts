/**
 * Races on the reservation core (real Postgres, 20 pooled connections):
 * - release vs commit vs expiry on one reservation: exactly one outcome wins, the others see the
 *   settled state (200 no-op release / 409 invalid-state, for a release too once committed), never
 *   a double effect;
 * - multi-line orders over overlapping SKUs in opposite line orders: no deadlock, no partial
 *   allocation, no oversell;
 * - one Idempotency-Key sent many times at once: one reservation; the same key with another body: 422.
 */
import { describe, expect, it } from 'vitest';
import { reserveBatch } from '../src/services/reservations/reserve.js';
import { expectInvariants } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture({ ATP_DB_POOL_MAX: '20' });

describe('release vs commit vs expiry on one reservation', () => {
  it('each of 40 reservations settles exactly once, whichever verb wins', async () => {
    const N = 40;
    expect((await t.api.setStock('RACE', 'DC1', 1000)).status).toBe(200);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await t.api.reserve({ orderRef: `race-${i}`, channel: 'web', lines: [{ sku: 'RACE', qty: 3 }], holdSeconds: 600 });
      expect(r.status).toBe(201);
      ids.push(r.body.id);
    }
    // make every hold due, so the sweeper competes with the explicit verbs
    await t.sql`update reservations set expires_at = now() - interval '1 second' where id = any(${ids}::uuid[])`;

    const outcomes = await Promise.all(
      ids.map(async (id) => {
        const [release, commit, swept] = await Promise.all([t.api.release(id), t.api.commit(id), t.svc.sweep()]);
        return { id, release, commit, swept };
      }),
    );
    let committed = 0;
    for (const o of outcomes) {
      const final = await t.api.get(o.id);
      expect(final.status).toBe(200);
      expect(['released', 'committed', 'expired']).toContain(final.body.status);
      // the commit either won (201/200 with status committed) or met a settled reservation (409 invalid-state)
      if (o.commit.status === 200) {
        expect(final.body.status).toBe('committed');
        committed++;
      } else {
        expect(o.commit.status).toBe(409);
        expect(o.commit.body.type).toMatch(/invalid-state$/);
        expect(final.body.status).not.toBe('committed');
      }
      // release is idempotent on a released or expired reservation (200, never a second effect);
      // after the commit won there is nothing to release: 409 invalid-state naming the status
      if (o.commit.status === 200) {
        expect(o.release.status).toBe(409);
        expect(o.release.body).toMatchObject({ code: 'invalid-state', reservationStatus: 'committed' });
      } else expect(o.release.status).toBe(200);
    }
    const positions = await expectInvariants(t.db.url, 'RACE');
    expect(positions).toEqual([{ sku: 'RACE', location: 'DC1', on_hand: 1000 - 3 * committed, reserved: 0 }]);
    // the ledger audits onHand: one 'ship' row per committed reservation, never two (releases and expiries move only reserved)
    const [ledger] = await t.sql`select count(*)::int as n, count(distinct reservation_id)::int as d from ledger where sku = 'RACE' and reason in ('release', 'expire', 'ship')`;
    expect(ledger).toEqual({ n: committed, d: committed });
    const [events] = await t.sql`select count(*)::int as n from outbox where subject = any(${ids}) and type in ('reservation.released', 'reservation.committed', 'reservation.expired')`;
    expect(events!.n).toBe(N);
  });

  it('a partial commit racing a full release leaves a consistent split', async () => {
    expect((await t.api.setStock('RACE2', 'DC1', 100)).status).toBe(200);
    const r = await t.api.reserve({ orderRef: 'race2', channel: 'web', lines: [{ sku: 'RACE2', qty: 10 }] });
    const [commit, release] = await Promise.all([t.api.commit(r.body.id, { lines: [{ sku: 'RACE2', qty: 4 }] }), t.api.release(r.body.id)]);
    expect(release.status).toBe(200);
    const final = (await t.api.get(r.body.id)).body;
    const [p] = await expectInvariants(t.db.url, 'RACE2');
    if (commit.status === 200) {
      // commit first: 4 shipped, release took the remaining 6
      expect(final.status).toBe('committed');
      expect(p).toMatchObject({ on_hand: 96, reserved: 0 });
    } else {
      // release first: nothing left to commit
      expect(commit.status).toBe(409);
      expect(final.status).toBe('released');
      expect(p).toMatchObject({ on_hand: 100, reserved: 0 });
    }
  });
});

describe('multi-line orders over overlapping SKUs', () => {
  it('opposite line orders in concurrent transactions: no deadlock, no partial allocation, no oversell', async () => {
    for (const sku of ['XA', 'XB', 'XC']) expect((await t.api.setStock(sku, 'DC1', 60)).status).toBe(200);
    const rules = t.svc.rules.current();
    const shapes = [
      ['XA', 'XB'],
      ['XB', 'XA'],
      ['XC', 'XA'],
      ['XB', 'XC'],
      ['XC', 'XB', 'XA'],
    ];
    const cmds = Array.from({ length: 200 }, (_, i) => ({
      caller: 't',
      idempotencyKey: `ml-${i}`,
      fingerprint: `ml-${i}`,
      orderRef: `ml-${i}`,
      channel: 'web',
      lines: shapes[i % shapes.length]!.map((sku) => ({ sku, qty: 1 + (i % 2) })),
    }));
    // one transaction per request (not the batcher's lanes): row locks alone must order them
    const reports = await Promise.all(cmds.map((c) => reserveBatch(t.svc.database.db, rules, [c])));
    const results = reports.map((r) => r.results[0]!);
    for (const r of results) if (!r.ok) expect(r.error.code).toBe('insufficient-stock'); // never a deadlock or lock timeout
    const ok = results.flatMap((r, i) => (r.ok ? [{ cmd: cmds[i]!, body: r.result.reservation }] : []));
    expect(ok.length).toBeGreaterThan(0);
    for (const { cmd, body } of ok) {
      // all or nothing: every line fully allocated
      for (const line of cmd.lines) {
        const got = body.lines
          .filter((l) => l.sku === line.sku)
          .flatMap((l) => l.allocations)
          .reduce((s, a) => s + a.qty, 0);
        expect(got).toBe(line.qty);
      }
    }
    const [partial] = await t.sql`
      select count(*)::int as n from reservation_lines l
      where l.sku like 'X%' and l.qty <> coalesce((select sum(a.qty) from allocations a where a.reservation_id = l.reservation_id and a.line_no = l.line_no), 0)`;
    expect(partial!.n).toBe(0);
    const positions = await expectInvariants(t.db.url, 'X');
    for (const p of positions) {
      const demanded = ok.flatMap((o) => o.cmd.lines).filter((l) => l.sku === p.sku).reduce((s, l) => s + l.qty, 0);
      expect(p.reserved).toBe(demanded);
      expect(p.reserved).toBeLessThanOrEqual(60);
    }
    // demand (≈ 200 × 1.5 × 2.4 lines) far exceeds stock: at least one SKU must be sold out
    expect(Math.max(...positions.map((p) => p.reserved))).toBeGreaterThan(55);
  });

  it('the same mix through the HTTP app (batched lanes) keeps the same guarantees', async () => {
    for (const sku of ['YA', 'YB']) expect((await t.api.setStock(sku, 'DC1', 50)).status).toBe(200);
    const replies = await Promise.all(
      Array.from({ length: 120 }, (_, i) =>
        t.api.reserve({ orderRef: `y-${i}`, channel: 'web', lines: i % 2 ? [{ sku: 'YA', qty: 1 }, { sku: 'YB', qty: 1 }] : [{ sku: 'YB', qty: 1 }, { sku: 'YA', qty: 1 }] }),
      ),
    );
    expect(replies.filter((r) => r.status === 201)).toHaveLength(50);
    expect(replies.filter((r) => r.status === 409)).toHaveLength(70);
    const positions = await expectInvariants(t.db.url, 'Y');
    expect(positions.map((p) => p.reserved)).toEqual([50, 50]);
  });
});

describe('Idempotency-Key racing', () => {
  it('30 concurrent requests with one key make one reservation and all get its body', async () => {
    expect((await t.api.setStock('IDEM', 'DC1', 100)).status).toBe(200);
    const body = { orderRef: 'idem-1', channel: 'web', lines: [{ sku: 'IDEM', qty: 2 }] };
    const replies = await Promise.all(Array.from({ length: 30 }, () => t.api.reserve(body, 'same-key')));
    for (const r of replies) expect(r.status).toBe(201);
    const ids = new Set(replies.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    const replayed = replies.filter((r) => r.headers.get('idempotent-replayed') === 'true');
    expect(replayed.length).toBeGreaterThanOrEqual(1);
    const [n] = await t.sql`select count(*)::int as n from reservations where order_ref = 'idem-1'`;
    expect(n!.n).toBe(1);
    const [p] = await expectInvariants(t.db.url, 'IDEM');
    expect(p!.reserved).toBe(2);
  });

  it('the same key racing in separate transactions (no batcher) still yields one reservation', async () => {
    const rules = t.svc.rules.current();
    const cmd = { caller: 't2', idempotencyKey: 'tx-key', fingerprint: 'fp-1', orderRef: 'idem-2', channel: 'web', lines: [{ sku: 'IDEM', qty: 1 }] };
    const reports = await Promise.all(Array.from({ length: 20 }, () => reserveBatch(t.svc.database.db, rules, [cmd])));
    const ids = new Set(reports.map((r) => (r.results[0]!.ok ? r.results[0]!.result.reservation.id : 'error')));
    expect([...ids]).toHaveLength(1);
    expect(ids.has('error')).toBe(false);
    const [n] = await t.sql`select count(*)::int as n from reservations where order_ref = 'idem-2'`;
    expect(n!.n).toBe(1);
  });

  it('the same key with a different body is refused with 422 and writes nothing', async () => {
    const first = await t.api.reserve({ orderRef: 'idem-3', channel: 'web', lines: [{ sku: 'IDEM', qty: 1 }] }, 'k-422');
    expect(first.status).toBe(201);
    const again = await t.api.reserve({ orderRef: 'idem-3', channel: 'web', lines: [{ sku: 'IDEM', qty: 5 }] }, 'k-422');
    expect(again.status).toBe(422);
    expect(again.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(again.body.type).toMatch(/idempotency-key-reused$/);
    const [p] = await expectInvariants(t.db.url, 'IDEM');
    expect(p!.reserved).toBe(4);
    // a replay of a release returns the first answer too
    const rel1 = await t.api.release(first.body.id, {}, 'rel-key');
    const rel2 = await t.api.release(first.body.id, {}, 'rel-key');
    expect(rel2.status).toBe(rel1.status);
    expect(rel2.body).toEqual(rel1.body);
  });
});

describe('cycle counts racing on a new position', () => {
  it('concurrent first counts serialise: the ledger sums to the final onHand', async () => {
    for (let round = 0; round < 5; round++) {
      const sku = `NEWPOS-${round}`;
      const replies = await Promise.all([10, 7, 3, 12].map((n) => t.api.setStock(sku, 'DC1', n)));
      for (const r of replies) expect(r.status).toBe(200);
      await expectInvariants(t.db.url, sku);
    }
  });
});

describe('channel caps on a SKU with no stock yet (pre-orders against inbound supply)', () => {
  it('concurrent backorders from one capped channel never exceed its cap', async () => {
    const current = await t.api.call('GET', '/v1/rules');
    const put = await t.api.call('PUT', '/v1/rules', { defaultTier: 3, channels: { marketplace: { tier: 3, maxUnits: 5 } } }, { 'if-match': current.headers.get('etag')! });
    expect(put.status).toBe(200);
    const po = await t.api.call('POST', '/v1/supply', { sku: 'PRE', location: 'DC1', qty: 100, expectedAt: new Date(Date.now() + 86400_000).toISOString() }, { 'idempotency-key': 'pre-po' });
    expect(po.status).toBe(201);
    const rules = t.svc.rules.current();
    for (let round = 0; round < 5; round++) {
      const reports = await Promise.all(
        [0, 1, 2].map((i) =>
          reserveBatch(t.svc.database.db, rules, [
            { caller: 't', idempotencyKey: `pre-${round}-${i}`, fingerprint: `pre-${round}-${i}`, orderRef: `pre-${round}-${i}`, channel: 'marketplace', lines: [{ sku: 'PRE', qty: 2 }], allowBackorder: true },
          ]),
        ),
      );
      expect(reports.map((r) => (r.results[0]!.ok ? 'ok' : r.results[0]!.error.code)).filter((c) => !['ok', 'channel-limit', 'insufficient-stock'].includes(c))).toEqual([]);
    }
    const [h] = await t.sql`select coalesce(sum(a.qty), 0)::int as held from allocations a join reservations r on r.id = a.reservation_id where r.channel = 'marketplace' and a.sku = 'PRE'`;
    expect(h!.held).toBe(4); // two orders of 2 fit under the cap of 5; every later one is refused
    // restore the default rules for the other tests in this file
    const now = await t.api.call('GET', '/v1/rules');
    expect((await t.api.call('PUT', '/v1/rules', { defaultTier: 3, channels: {} }, { 'if-match': now.headers.get('etag')! })).status).toBe(200);
  });
});
