/**
 * One clock (issue 16 item 7; issue 17 "Time"): every time the service answers or stores is
 * Postgres time, read in the writing transaction — never the process's clock.
 * Invariants proven, black-box over HTTP (rows read straight from the tables):
 * - Postgres time (production, no test clock): a reservation's createdAt/updatedAt/expiresAt in
 *   the 201 equal GET's and the row's to the microsecond, and its event's `time`; extend and
 *   release answer exactly what they stored, and expiresAt − updatedAt is exactly the hold;
 * - a test clock's instant is what every writer stamps (count, reservation, extend, release,
 *   supply, receipt, short pick: rows, ledger, events) — tests pass time, they do not sleep;
 * - expiry is decided by the same clock: a hold is not expired one millisecond before its
 *   expiresAt and is expired at it (also after an extend), the expiry's answer and event carry
 *   that instant, and the stock is available again;
 * - the same on embedded PGlite.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { query } from '../src/db/client.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { ManualClock, micros, US_FORMAT } from './helpers/clock.js';
import { serviceFixture, type ServiceFixture } from './helpers/service.js';

interface Times {
  createdAt: string;
  updatedAt: string;
  expiresAt: string | null;
}

const times = (b: Times): Times => ({ createdAt: b.createdAt, updatedAt: b.updatedAt, expiresAt: b.expiresAt });

/** The reservation row's times, to the microsecond, as the service would write them. */
async function storedTimes(t: ServiceFixture, id: string): Promise<Times> {
  const [row] = await t.sql<{ c: string; u: string; e: string | null }[]>`
    select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as c, to_char(updated_at at time zone 'UTC', ${US_FORMAT}) as u,
           to_char(expires_at at time zone 'UTC', ${US_FORMAT}) as e
    from reservations where id = ${id}`;
  return { createdAt: row!.c, updatedAt: row!.u, expiresAt: row!.e };
}

const asMicros = (b: Times): Times => ({ createdAt: micros(b.createdAt), updatedAt: micros(b.updatedAt), expiresAt: b.expiresAt && micros(b.expiresAt) });

/**
 * Every event written so far, read from the outbox (the feed GET /v1/events waits for the
 * cluster's xmin horizon, which other databases' traffic holds back): `time` is the row's
 * created_at in the ISO form an event carries, checked to be whole milliseconds.
 */
async function events(t: ServiceFixture): Promise<{ type: string; subject: string; time: string; data: any }[]> {
  const rows = await t.sql<{ type: string; subject: string; us: string; data: any }[]>`
    select type, subject, to_char(created_at at time zone 'UTC', ${US_FORMAT}) as us, data from outbox_event order by id`;
  return rows.map((r) => {
    expect(r.us, 'an event time is a whole millisecond').toMatch(/\.\d{3}000Z$/);
    return { type: r.type, subject: r.subject, time: r.us.replace(/000Z$/, 'Z'), data: r.data };
  });
}

/** The distinct `at` values of a query's rows. */
async function distinctTimes(rows: Promise<{ at: string }[]>): Promise<string[]> {
  return [...new Set((await rows).map((r) => r.at))].sort();
}

describe('Postgres time (no test clock)', () => {
  const t = serviceFixture();

  it('the 201, GET, the row and the event carry the same createdAt/updatedAt/expiresAt, to the microsecond', async () => {
    expect((await t.api.setStock('PG-1', 'DC1', 10)).status).toBe(200);
    const r = await t.api.reserve({ orderRef: 'pg-1', channel: 'web', lines: [{ sku: 'PG-1', qty: 2 }], holdSeconds: 600 });
    expect(r.status).toBe(201);
    const id = r.body.id as string;
    expect(r.body.updatedAt).toBe(r.body.createdAt);
    expect(Date.parse(r.body.expiresAt) - Date.parse(r.body.createdAt)).toBe(600_000);
    expect(times((await t.api.get(id)).body)).toEqual(times(r.body));
    expect(await storedTimes(t, id)).toEqual(asMicros(r.body));
    // the rows written with it (position, allocations) and its event carry the same instant
    const [pos] = await t.sql`select to_char(updated_at at time zone 'UTC', ${US_FORMAT}) as at from positions where sku = 'PG-1'`;
    expect(pos!.at).toBe(micros(r.body.createdAt));
    expect(await distinctTimes(t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from allocations where reservation_id = ${id}`)).toEqual([micros(r.body.createdAt)]);
    const created = (await events(t)).find((e) => e.type === 'reservation.created' && e.subject === id)!;
    expect(created.time).toBe(r.body.createdAt);
    expect(times(created.data.reservation)).toEqual(times(r.body));
  });

  it('a rules PUT answers the updatedAt it stored, to the microsecond', async () => {
    const put = await t.api.call('PUT', '/v1/rules', { channels: { web: { tier: 1 } } });
    expect(put.status).toBe(200);
    const [row] = await t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from rules where version = ${put.body.version}`;
    expect(row!.at).toBe(micros(put.body.updatedAt));
    expect((await t.api.call('GET', '/v1/rules')).body.updatedAt).toBe(put.body.updatedAt);
  });

  it('extend and release answer what they stored', async () => {
    await t.api.setStock('PG-2', 'DC1', 10);
    const r = await t.api.reserve({ orderRef: 'pg-2', channel: 'web', lines: [{ sku: 'PG-2', qty: 1 }], holdSeconds: 60 });
    const id = r.body.id as string;
    const x = await t.api.extend(id, 900);
    expect(x.status).toBe(200);
    expect(Date.parse(x.body.expiresAt) - Date.parse(x.body.updatedAt)).toBe(900_000);
    expect(x.body.createdAt).toBe(r.body.createdAt);
    expect(await storedTimes(t, id)).toEqual(asMicros(x.body));
    const rel = await t.api.release(id);
    expect(rel.status).toBe(200);
    expect(await storedTimes(t, id)).toEqual(asMicros(rel.body));
    expect(times((await t.api.get(id)).body)).toEqual(times(rel.body));
    const released = (await events(t)).find((e) => e.type === 'reservation.released' && e.subject === id)!;
    expect(released.time).toBe(rel.body.updatedAt);
  });
});

describe('a test clock', () => {
  const clock = new ManualClock('2030-01-01T00:00:00.000Z');
  const t = serviceFixture({}, { clock });
  const T = (offsetMs: number) => new Date(Date.parse('2030-01-01T00:00:00.000Z') + offsetMs).toISOString();

  it('every writer stamps the instant the clock gives: count, reservation, extend, release, supply, receipt, short pick', async () => {
    clock.set(T(0));
    expect((await t.api.setStock('TC-1', 'DC1', 5)).status).toBe(200);
    clock.set(T(1_000));
    const r = await t.api.reserve({ orderRef: 'tc-1', channel: 'web', lines: [{ sku: 'TC-1', qty: 2 }], holdSeconds: 60 });
    expect(r.status).toBe(201);
    const id = r.body.id as string;
    expect(times(r.body)).toEqual({ createdAt: T(1_000), updatedAt: T(1_000), expiresAt: T(61_000) });
    expect(await storedTimes(t, id)).toEqual(asMicros(r.body));

    clock.set(T(10_000));
    const x = await t.api.extend(id, 120);
    expect(times(x.body)).toEqual({ createdAt: T(1_000), updatedAt: T(10_000), expiresAt: T(130_000) });
    expect(times((await t.api.get(id)).body)).toEqual(times(x.body));
    expect(await storedTimes(t, id)).toEqual(asMicros(x.body));

    clock.set(T(20_000));
    const sup = await t.api.call('POST', '/v1/supply', { sku: 'TC-1', location: 'DC1', qty: 4, expectedAt: T(86_400_000) }, { 'idempotency-key': 'tc-sup' });
    expect(sup.status).toBe(201);
    expect(sup.body).toMatchObject({ createdAt: T(20_000), updatedAt: T(20_000) });
    clock.set(T(30_000));
    const rec = await t.api.call('POST', `/v1/supply/${sup.body.id}/receipts`, { qty: 4 }, { 'idempotency-key': 'tc-rec' });
    expect(rec.status).toBe(200);
    expect(rec.body.supply).toMatchObject({ createdAt: T(20_000), updatedAt: T(30_000) });

    clock.set(T(40_000));
    const sp = await t.api.call('POST', '/v1/short-picks', { sku: 'TC-1', location: 'DC1', expectedQty: 9, foundQty: 8, reason: 'bin' }, { 'idempotency-key': 'tc-sp' });
    expect(sp.status).toBe(201);

    clock.set(T(50_000));
    const rel = await t.api.release(id);
    expect(times(rel.body)).toEqual({ createdAt: T(1_000), updatedAt: T(50_000), expiresAt: T(130_000) });
    expect(await storedTimes(t, id)).toEqual(asMicros(rel.body));

    // every row and event those writers made carries one of the instants the clock gave, each at its writer
    // (the ledger audits onHand: reserve and release move `reserved` only and write no ledger row)
    const ledger = await t.sql<{ reason: string; at: string }[]>`select reason, to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from ledger where sku = 'TC-1' order by id`;
    expect(ledger.map((l) => [l.reason, l.at])).toEqual([
      ['cycle-count', micros(T(0))],
      ['receipt', micros(T(30_000))],
      ['short-pick', micros(T(40_000))],
    ]);
    const [pos] = await t.sql`select to_char(updated_at at time zone 'UTC', ${US_FORMAT}) as at from positions where sku = 'TC-1'`;
    expect(pos!.at).toBe(micros(T(50_000)));
    const [loc] = await t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from locations where id = 'DC1'`;
    expect(loc!.at).toBe(micros(T(0)));
    const [supRow] = await t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as c, to_char(updated_at at time zone 'UTC', ${US_FORMAT}) as u from supply where id = ${sup.body.id}`;
    expect(supRow).toEqual({ c: micros(T(20_000)), u: micros(T(30_000)) });
    const [sp1] = await t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from short_picks where id = ${sp.body.id}`;
    expect(sp1!.at).toBe(micros(T(40_000)));
    // stored answers: a reservation's on its row, every other verb's in idempotency_keys
    expect(await distinctTimes(t.sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as at from idempotency_keys union all select to_char(created_at at time zone 'UTC', ${US_FORMAT}) from reservations where answer is not null`)).toEqual(
      [T(1_000), T(10_000), T(20_000), T(30_000), T(40_000), T(50_000)].map(micros),
    );
    const evs = await events(t);
    const timeOf = (type: string) => [...new Set(evs.filter((e) => e.type === type).map((e) => e.time))];
    expect(timeOf('inventory.adjusted')).toEqual([T(0), T(40_000)]);
    expect(timeOf('reservation.created')).toEqual([T(1_000)]);
    expect(timeOf('reservation.extended')).toEqual([T(10_000)]);
    expect(timeOf('supply.created')).toEqual([T(20_000)]);
    expect(timeOf('supply.received')).toEqual([T(30_000)]);
    expect(timeOf('shortpick.recorded')).toEqual([T(40_000)]);
    expect(timeOf('reservation.released')).toEqual([T(50_000)]);
  });

  it('answers that carry "now" carry the clock: promise asOf and on-hand promise date, consistency checkedAt, a change record\'s at', async () => {
    clock.set(T(300_000_000));
    await t.api.setStock('TC-4', 'DC1', 1);
    const p = await t.api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'TC-4', qty: 1 }] });
    expect(p.status).toBe(200);
    expect(p.body).toMatchObject({ asOf: T(300_000_000), promisedAt: T(300_000_000) });
    const c = await t.api.call('GET', '/v1/consistency');
    expect(c.status).toBe(200);
    expect(c.body.checkedAt).toBe(T(300_000_000));
    // a backorder filled by a receipt: the change record's `at` is the receipt's instant
    const sup = await t.api.call('POST', '/v1/supply', { sku: 'TC-4', location: 'DC1', qty: 2, expectedAt: T(400_000_000) }, { 'idempotency-key': 'tc4-sup' });
    const r = await t.api.reserve({ orderRef: 'tc-4', channel: 'web', lines: [{ sku: 'TC-4', qty: 3 }], allowBackorder: true });
    expect(r.status).toBe(201);
    clock.set(T(300_060_000));
    expect((await t.api.call('POST', `/v1/supply/${sup.body.id}/receipts`, { qty: 2 }, { 'idempotency-key': 'tc4-rec' })).status).toBe(200);
    const changes = await t.api.call('GET', `/v1/reservations/${r.body.id}/changes`);
    expect(changes.status).toBe(200);
    expect(JSON.stringify(changes.body)).toContain(`"at":"${T(300_060_000)}"`);
    expect((await t.api.get(r.body.id)).body.updatedAt).toBe(T(300_060_000));
  });

  it('a backorder on overdue supply is promised at the same instant the reservation is created (the clamp uses the one clock)', async () => {
    clock.set(T(500_000_000));
    const sup = await t.api.call('POST', '/v1/supply', { sku: 'TC-5', location: 'DC1', qty: 5, expectedAt: T(500_000_000 - 3_600_000) }, { 'idempotency-key': 'tc5-sup' });
    expect(sup.status).toBe(201);
    clock.advance(1_234);
    const r = await t.api.reserve({ orderRef: 'tc-5', channel: 'web', lines: [{ sku: 'TC-5', qty: 2 }], allowBackorder: true });
    expect(r.status).toBe(201);
    expect(r.body.createdAt).toBe(T(500_001_234));
    expect(r.body.lines[0].allocations[0]).toMatchObject({ supplyId: sup.body.id, promisedAt: T(500_001_234) });
    const [a] = await t.sql`select to_char(promised_at at time zone 'UTC', ${US_FORMAT}) as at from allocations where reservation_id = ${r.body.id}`;
    expect(a!.at).toBe(micros(T(500_001_234)));
  });

  it('a rules PUT stores and answers the clock\'s instant as updatedAt', async () => {
    clock.set(T(600_000_000));
    const put = await t.api.call('PUT', '/v1/rules', { channels: { web: { tier: 1 } } });
    expect(put.status).toBe(200);
    expect(put.body.updatedAt).toBe(T(600_000_000));
  });

  it('expiry follows the clock: held a millisecond before expiresAt, expired at it — no sleeping', async () => {
    clock.set(T(100_000_000));
    await t.api.setStock('TC-2', 'DC1', 3);
    const r = await t.api.reserve({ orderRef: 'tc-2', channel: 'web', lines: [{ sku: 'TC-2', qty: 3 }], holdSeconds: 30 });
    expect(r.status).toBe(201);
    const id = r.body.id as string;
    expect(r.body.expiresAt).toBe(T(100_030_000));

    clock.set(T(100_029_999));
    expect(await t.svc.sweep()).toBe(0);
    expect((await t.api.get(id)).body.status).toBe('held');

    clock.set(T(100_030_000));
    expect(await t.svc.sweep()).toBe(1);
    const g = (await t.api.get(id)).body;
    expect(g).toMatchObject({ status: 'expired', createdAt: T(100_000_000), updatedAt: T(100_030_000), expiresAt: T(100_030_000) });
    expect(await storedTimes(t, id)).toEqual(asMicros(g));
    const expired = (await events(t)).find((e) => e.type === 'reservation.expired' && e.subject === id)!;
    expect(expired.time).toBe(T(100_030_000));
    expect(times(expired.data.reservation)).toEqual(times(g));
    expect((await t.api.atp(['TC-2'])).body.skus[0].available).toBe(3);
  });

  it('an extend moves the expiry the sweeper sees', async () => {
    clock.set(T(200_000_000));
    await t.api.setStock('TC-3', 'DC1', 1);
    const r = await t.api.reserve({ orderRef: 'tc-3', channel: 'web', lines: [{ sku: 'TC-3', qty: 1 }], holdSeconds: 30 });
    const id = r.body.id as string;
    clock.set(T(200_020_000));
    const x = await t.api.extend(id, 30);
    expect(x.body.expiresAt).toBe(T(200_050_000));
    clock.set(T(200_049_999));
    expect(await t.svc.sweep()).toBe(0);
    clock.set(T(200_050_000));
    expect(await t.svc.sweep()).toBe(1);
    expect((await t.api.get(id)).body).toMatchObject({ status: 'expired', updatedAt: T(200_050_000) });
  });
});

describe('embedded PGlite, with a test clock', () => {
  let dir: string;
  let svc: Service;
  const clock = new ManualClock('2031-06-01T12:00:00.000Z');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'atp-clock-'));
    svc = await createService(loadConfig({ ATP_DATA_DIR: dir, LOG_LEVEL: 'silent' }), { sweeper: false, clock });
  });
  afterAll(async () => {
    await svc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers what it stores, and expires by the clock', async () => {
    const api = client(svc.app);
    expect((await api.setStock('EM-1', 'DC1', 2)).status).toBe(200);
    const r = await api.reserve({ orderRef: 'em-1', channel: 'web', lines: [{ sku: 'EM-1', qty: 2 }], holdSeconds: 5 });
    expect(r.status).toBe(201);
    expect(times(r.body)).toEqual({ createdAt: '2031-06-01T12:00:00.000Z', updatedAt: '2031-06-01T12:00:00.000Z', expiresAt: '2031-06-01T12:00:05.000Z' });
    const [row] = await query<{ c: string; e: string }>(
      svc.database.db,
      sql`select to_char(created_at at time zone 'UTC', ${US_FORMAT}) as c, to_char(expires_at at time zone 'UTC', ${US_FORMAT}) as e from reservations where id = ${r.body.id}`,
    );
    expect(row).toEqual({ c: micros(r.body.createdAt), e: micros(r.body.expiresAt) });
    clock.advance(4_999);
    expect(await svc.sweep()).toBe(0);
    clock.advance(1);
    expect(await svc.sweep()).toBe(1);
    expect((await api.get(r.body.id)).body).toMatchObject({ status: 'expired', updatedAt: '2031-06-01T12:00:05.000Z' });
  });
});
