/**
 * The embedded default: no DATABASE_URL → PGlite persisted under ATP_DATA_DIR, migrations applied
 * at start, rules in Postgres (the same PGlite). It passes the same API smoke scenario as Postgres, and what it
 * acknowledged survives a restart on the same directory.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { apiSmoke } from './helpers/smoke.js';

let dir: string;
let svc: Service | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atp-pglite-'));
});
afterAll(async () => {
  await svc?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('runs the API smoke scenario on PGlite and keeps what it acknowledged across a restart', async () => {
  const env = { ATP_DATA_DIR: dir, LOG_LEVEL: 'silent' };
  svc = await createService(loadConfig(env), { sweeper: false });
  expect(svc.database.mode).toBe('pglite');
  const api = client(svc.app);
  await apiSmoke(api, 'emb');
  const r = await api.reserve({ orderRef: 'persist', channel: 'web', lines: [{ sku: 'emb-A', qty: 2 }] });
  expect(r.status).toBe(201);
  const ready = await api.call('GET', '/readyz');
  expect(ready.status).toBe(200);
  await svc.stop();

  svc = await createService(loadConfig(env), { sweeper: false });
  const again = client(svc.app);
  const got = await again.get(r.body.id);
  expect(got.status).toBe(200);
  expect(got.body).toMatchObject({ id: r.body.id, status: 'held' });
  const atp = await again.atp(['emb-A']);
  expect(atp.body.skus[0]).toMatchObject({ onHand: 5, reserved: 2, available: 3 });
}, 120_000);
