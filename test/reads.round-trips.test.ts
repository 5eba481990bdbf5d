/**
 * Round trips per read (issue 15): counted at the wire by a proxy in front of Postgres
 * (test/helpers/pg-counter.ts). Each read answers from ONE statement: no BEGIN/COMMIT, no
 * separate clock, rules or catalog query.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client, type Client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';
import { type PgCounter, pgCounter } from './helpers/pg-counter.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let proxy: PgCounter;
let svc: Service;
let api: Client;

beforeAll(async () => {
  db = await createTestDatabase();
  proxy = await pgCounter(db.url);
  svc = await createService(loadConfig({ DATABASE_URL: proxy.url, LOG_LEVEL: 'silent', ATP_RULES_POLL_MS: '60000' }), { sweeper: false });
  api = client(svc.app);
  await api.putRules({ defaultTier: 3, channels: { web: { tier: 1 }, market: { tier: 3, maxShare: 0.5 } }, protect: { '1': 5 }, skus: {} });
  for (const s of ['A', 'B', 'C']) expect((await api.setStock(s, 'WH1', 50)).status).toBe(200);
  expect((await api.call('PUT', '/v1/kits/KIT', { components: [{ sku: 'A', qty: 1 }, { sku: 'B', qty: 2 }] })).status).toBe(200);
  // warm: the first read of each kind prepares its statements
  await api.atp(['A'], 'web');
  await api.atp(['A', 'B', 'KIT'], 'market');
  await api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'A', qty: 1 }, { sku: 'KIT', qty: 1 }] });
});

afterAll(async () => {
  await svc?.stop();
  await proxy?.close();
  await db?.drop();
});

async function counted(fn: () => Promise<unknown>) {
  proxy.reset();
  await fn();
  return proxy.counts();
}

it('GET /v1/atp of one SKU for a channel is one statement', async () => {
  const c = await counted(async () => expect((await api.atp(['A'], 'web')).status).toBe(200));
  console.log('atp 1 sku', c);
  expect(c.statements).toBe(1);
});

it('GET /v1/atp of several SKUs and a kit is one statement', async () => {
  const c = await counted(async () => expect((await api.atp(['A', 'B', 'C', 'KIT'], 'market')).status).toBe(200));
  console.log('atp 4 skus', c);
  expect(c.statements).toBe(1);
});

it('POST /v1/promise is one statement', async () => {
  const c = await counted(async () => expect((await api.call('POST', '/v1/promise', { channel: 'web', lines: [{ sku: 'A', qty: 1 }, { sku: 'KIT', qty: 1 }, { sku: 'C', qty: 2 }] })).status).toBe(200));
  console.log('promise 3 lines', c);
  expect(c.statements).toBe(1);
});

it('GET /v1/reservations/{id} is one statement: the reservation, its lines and allocations from one snapshot', async () => {
  const r = await api.reserve({ orderRef: 'rt-1', channel: 'web', lines: [{ sku: 'A', qty: 2 }, { sku: 'KIT', qty: 1 }] });
  expect(r.status).toBe(201);
  await api.get(r.body.id); // warm: prepares the statement
  let got: Awaited<ReturnType<Client['get']>> | undefined;
  const c = await counted(async () => {
    got = await api.get(r.body.id);
  });
  expect(got!.status).toBe(200);
  expect(got!.body).toEqual(r.body);
  expect(c.statements).toBe(1);
});
