/**
 * Read-your-writes across instances (issue 15): two service instances on one database; every kind
 * of write acknowledged by A is in the very next read through B — stock counts, inbound supply and
 * receipts, reservations, releases, rules, kits and units — and B's sold-out memory never refuses
 * a SKU that A restocked. B would otherwise learn of them late: its rules poll and sold-out TTL are
 * set far beyond the test's length, its catalog cache TTL too, and the clock never moves.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { expectInvariants } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';
import { client, day } from './helpers/supply.js';

const clock = new ManualClock('2029-12-01T00:00:00.000Z');
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let A: ReturnType<typeof client>;
let B: ReturnType<typeof client>;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_RULES_POLL_MS: '60000', ATP_CATALOG_TTL_MS: '600000', ATP_SOLDOUT_TTL_MS: '60000' };
  a = await createService(loadConfig(env), { sweeper: false, clock });
  b = await createService(loadConfig(env), { sweeper: false, clock });
  A = client(a);
  B = client(b);
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

const atpOn = async (api: typeof B, sku: string, channel?: string) => {
  const r = await api.atp(sku, channel);
  expect(r.status).toBe(200);
  return r.body.skus[0];
};

it('stock counts, reservations and releases made through A are in the next read through B', async () => {
  expect((await atpOn(B, 'RW-1')).onHand).toBe(0);
  expect((await A.put('RW-1', 'DC1', { onHand: 30 })).status).toBe(200);
  expect(await atpOn(B, 'RW-1')).toMatchObject({ onHand: 30, reserved: 0, available: 30 });

  const r = await A.reserve({ orderRef: 'rw-1', channel: 'web', lines: [{ sku: 'RW-1', qty: 7 }] });
  expect(r.status).toBe(201);
  expect(await atpOn(B, 'RW-1')).toMatchObject({ onHand: 30, reserved: 7, available: 23 });
  const p = await B.promise({ channel: 'web', lines: [{ sku: 'RW-1', qty: 24 }] });
  expect(p.body).toMatchObject({ promisedAt: null });

  expect((await A.call('POST', `/v1/reservations/${r.body.id}/release`, {})).status).toBe(200);
  expect(await atpOn(B, 'RW-1')).toMatchObject({ reserved: 0, available: 30 });
  expect((await B.promise({ channel: 'web', lines: [{ sku: 'RW-1', qty: 24 }] })).body.promisedAt).toBe(clock.now().toISOString());
  await expectInvariants(db.url);
});

it('inbound supply and its receipt made through A are in the next read and promise through B', async () => {
  const s = await A.supply({ sku: 'RW-2', location: 'DC1', qty: 12, expectedAt: day(3) });
  expect(s.status).toBe(201);
  const seen = await atpOn(B, 'RW-2');
  expect(seen).toMatchObject({ onHand: 0, inbound: [expect.objectContaining({ supplyId: s.body.id, openQty: 12, freeQty: 12 })] });
  expect((await B.promise({ channel: 'web', lines: [{ sku: 'RW-2', qty: 5 }] })).body.promisedAt).toBe(day(3));

  expect((await A.receive(s.body.id, { qty: 12 })).status).toBe(200);
  expect(await atpOn(B, 'RW-2')).toMatchObject({ onHand: 12, available: 12, inbound: [] });
  expect((await B.promise({ channel: 'web', lines: [{ sku: 'RW-2', qty: 5 }] })).body.promisedAt).toBe(clock.now().toISOString());
});

it('rules put through A are applied by the next read through B (its poll would take a minute)', async () => {
  expect((await A.put('RW-3', 'DC1', { onHand: 100 })).status).toBe(200);
  expect((await atpOn(B, 'RW-3', 'market')).channel).toMatchObject({ available: 100, protectedUnits: 0 });
  const put = await A.rules({ defaultTier: 3, channels: { web: { tier: 1 }, market: { tier: 3, maxUnits: 30 } }, protect: { '1': 40 }, skus: {} });
  expect(put.status).toBe(200);
  expect(b.rules.current().version).toBeLessThan(put.body.version); // B has not polled
  expect((await atpOn(B, 'RW-3', 'market')).channel).toMatchObject({ available: 30, protectedUnits: 40, capRoom: 30, rulesVersion: put.body.version });
  const p = await B.promise({ channel: 'market', lines: [{ sku: 'RW-3', qty: 31 }] });
  expect(p.body).toMatchObject({ promisedAt: null, rulesVersion: put.body.version });
  // and B's own write path now enforces them too (the read put the version in force there)
  expect(b.rules.current().version).toBe(put.body.version);
  const r = await B.reserve({ orderRef: 'rw-3', channel: 'market', lines: [{ sku: 'RW-3', qty: 31 }] });
  expect(r.status).toBe(409);
});

it('kits and pack units defined through A are in the next read through B', async () => {
  expect((await A.put('RW-C1', 'DC1', { onHand: 9 })).status).toBe(200);
  expect((await A.put('RW-C2', 'DC1', { onHand: 40 })).status).toBe(200);
  expect((await atpOn(B, 'RW-KIT')).kit).toBeUndefined();
  expect((await A.call('PUT', '/v1/kits/RW-KIT', { components: [{ sku: 'RW-C1', qty: 1 }, { sku: 'RW-C2', qty: 5 }] })).status).toBe(200);
  expect(await atpOn(B, 'RW-KIT')).toMatchObject({ available: 8, kit: { components: [{ sku: 'RW-C1', qty: 1 }, { sku: 'RW-C2', qty: 5 }] } });
  const kp = await B.promise({ channel: 'web', lines: [{ sku: 'RW-KIT', qty: 8 }] });
  expect(kp.body.promisedAt).toBe(clock.now().toISOString());
  expect((await A.call('DELETE', '/v1/kits/RW-KIT')).status).toBe(204);
  expect((await atpOn(B, 'RW-KIT')).kit).toBeUndefined();

  expect((await B.call('GET', '/v1/atp?sku=RW-C2&unit=case')).status).toBe(400);
  expect((await A.call('PUT', '/v1/units/RW-C2', { units: [{ unit: 'case', factor: 12 }] })).status).toBe(200);
  expect((await B.call('GET', '/v1/atp?sku=RW-C2&unit=case')).body.skus[0].inUnit).toMatchObject({ unit: 'case', factor: 12, available: 3 });
  expect((await B.call('GET', '/v1/units/RW-C2')).body.units).toEqual([{ unit: 'each', factor: 1 }, { unit: 'case', factor: 12 }]);
  expect((await B.promise({ channel: 'web', lines: [{ sku: 'RW-C2', qty: 3, unit: 'case' }] })).body.lines[0]).toMatchObject({ sku: 'RW-C2', promisedAt: clock.now().toISOString() });
  expect((await B.promise({ channel: 'web', lines: [{ sku: 'RW-C2', qty: 4, unit: 'case' }] })).body.promisedAt).toBeNull();
});

it("B's sold-out memory never refuses a SKU that A restocked", async () => {
  expect((await A.put('RW-S', 'DC1', { onHand: 1 })).status).toBe(200);
  expect((await B.reserve({ orderRef: 'rw-s1', channel: 'web', lines: [{ sku: 'RW-S', qty: 1 }] })).status).toBe(201);
  // B's batch saw it sold out: B remembers, and refuses from memory after the shared read confirmed it
  expect((await B.reserve({ orderRef: 'rw-s2', channel: 'web', lines: [{ sku: 'RW-S', qty: 1 }] })).status).toBe(409);
  const hits = b.allocator.depth.soldOutHits;
  expect((await B.reserve({ orderRef: 'rw-s3', channel: 'web', lines: [{ sku: 'RW-S', qty: 1 }] })).status).toBe(409);
  expect(b.allocator.depth.soldOutHits).toBe(hits + 1);
  expect(b.allocator.soldOut.isSoldOut('RW-S')).toBe(true);

  expect((await A.put('RW-S', 'DC1', { onHand: 3 })).status).toBe(200);
  const after = await B.reserve({ orderRef: 'rw-s4', channel: 'web', lines: [{ sku: 'RW-S', qty: 2 }] });
  expect(after.status).toBe(201);
  await expectInvariants(db.url);
});
