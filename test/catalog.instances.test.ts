/**
 * The catalog cache across instances: kits and pack units changed through one service instance
 * reach another instance on the same database when its ATP_CATALOG_TTL_MS has passed since its
 * last look (it then re-reads the catalog's digest) — in both directions (defined, then
 * removed). Until then the other instance answers from its last copy; it never mixes the two.
 * The instances share a test clock: the TTL passes when the test moves time, never by sleeping.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, expectInvariants } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { createTestDatabase } from './helpers/db.js';

const TTL_MS = 300;
const clock = new ManualClock();
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let a: Service;
let b: Service;
let sql: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  const env = { DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_CATALOG_TTL_MS: String(TTL_MS) };
  a = await createService(loadConfig(env), { sweeper: false, clock });
  b = await createService(loadConfig(env), { sweeper: false, clock });
  sql = postgres(db.url, { max: 1, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end();
  await a?.stop();
  await b?.stop();
  await db?.drop();
});

it('a kit defined, then removed, through instance A is applied by instance B when its TTL has passed, not before', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-A', 'DC1', 10)).status).toBe(200);
  const kitOnB = async () => (await apiB.call('GET', '/v1/atp?sku=CI-KIT')).body.skus[0] as { kit?: unknown; available: number };
  // B looks first: no such kit, so CI-KIT is a plain SKU with no stock
  expect(await kitOnB()).toMatchObject({ available: 0 });
  expect((await kitOnB()).kit).toBeUndefined();

  expect((await apiA.call('PUT', '/v1/kits/CI-KIT', { components: [{ sku: 'CI-A', qty: 2 }] })).status).toBe(200);
  clock.advance(TTL_MS - 1);
  expect((await kitOnB()).kit).toBeUndefined(); // B's copy is younger than its TTL
  clock.advance(1);
  expect(await kitOnB()).toMatchObject({ kit: { components: [{ sku: 'CI-A', qty: 2 }] }, available: 5 });
  const r = await apiB.reserve({ orderRef: 'ci-1', channel: 'web', lines: [{ sku: 'CI-KIT', qty: 1 }] });
  expect(r.status).toBe(201);
  expect(r.body.lines).toEqual([expect.objectContaining({ sku: 'CI-A', qty: 2, kit: { sku: 'CI-KIT', perKit: 2 } })]);

  expect((await apiA.call('DELETE', '/v1/kits/CI-KIT')).status).toBe(204);
  clock.advance(TTL_MS - 1);
  expect((await kitOnB()).kit).toBeDefined();
  clock.advance(1);
  expect((await kitOnB()).kit).toBeUndefined();
  const after = await apiB.reserve({ orderRef: 'ci-2', channel: 'web', lines: [{ sku: 'CI-KIT', qty: 1 }] });
  expect(after.status).toBe(409);
  expect(after.body.lines).toEqual([expect.objectContaining({ sku: 'CI-KIT', available: 0 })]);
  const [pos] = await sql<{ reserved: number }[]>`select reserved from positions where sku = 'CI-A'`;
  expect(pos!.reserved).toBe(2);
  await expectInvariants(db.url);
});

it('pack units set through A are applied by B when its TTL has passed, not before', async () => {
  const apiA = client(a.app);
  const apiB = client(b.app);
  expect((await apiA.setStock('CI-U', 'DC1', 100)).status).toBe(200);
  const unknown = await apiB.reserve({ orderRef: 'cu-0', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] });
  expect(unknown.status).toBe(400);
  expect(unknown.body.errors[0].field).toBe('body.lines.0.unit');
  expect((await apiA.call('PUT', '/v1/units/CI-U', { units: [{ unit: 'case', factor: 12 }] })).status).toBe(200);
  clock.advance(TTL_MS - 1);
  expect((await apiB.reserve({ orderRef: 'cu-1', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] })).status).toBe(400);
  clock.advance(1);
  const seen = await apiB.reserve({ orderRef: 'cu-2', channel: 'web', lines: [{ sku: 'CI-U', qty: 1, unit: 'case' }] });
  expect(seen.status).toBe(201);
  expect(seen.body.lines[0]).toMatchObject({ sku: 'CI-U', qty: 12, unit: { name: 'case', factor: 12 } });
});
