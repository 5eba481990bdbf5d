/**
 * examples/availability-consumer.ts runs as documented (docs/EVENTS.md): spawned as its own
 * process with a channel key against a service listening on a real socket. First run: a
 * snapshot of its SKUs from GET /v1/atp and the cursor saved; later runs resume from the cursor
 * and print exactly the new figures of its channel — each equal to what GET /v1/atp answers —
 * and nothing twice. Passes of the publisher run when the test says so (test clock).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { client } from './helpers/api.js';
import { ManualClock } from './helpers/clock.js';
import { settled } from './helpers/outbox.js';
import { serviceFixture } from './helpers/service.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const ADMIN = 'admin-key-0123456789';
const WEB = 'web-key-0123456789ab';
const clock = new ManualClock();
const t = serviceFixture({ ATP_API_KEYS: `${ADMIN}=admin,${WEB}=channel:web` }, { relay: false, clock });
let server: ReturnType<typeof serve>;
let base: string;
let dir: string;

beforeAll(async () => {
  server = serve({ fetch: t.svc.app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(path.join(tmpdir(), 'atp-consumer-'));
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

const admin = () => client(t.svc.app, ADMIN);
interface Line {
  sku: string;
  available: number;
  source: 'snapshot' | 'event';
  asOf?: string;
}

/** One `--once` run of the example, as its README line says; its JSON lines. */
async function consume(): Promise<Line[]> {
  await settled(t.sql);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/availability-consumer.ts', '--once'], {
    cwd: ROOT,
    env: { ...process.env, ATP_URL: base, ATP_KEY: WEB, CHANNEL: 'web', SKUS: 'EX-1,EX-2', CURSOR_FILE: path.join(dir, 'cursor') },
  });
  return stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
}
async function publish(): Promise<void> {
  clock.advance(1000);
  await settled(t.sql);
  await t.svc.availability.publishOnce();
}
const webFigure = async (sku: string) => (await admin().atp([sku], 'web')).body.skus[0].channel.available as number;

it('the example consumer snapshots, then follows its channel from a saved cursor, each figure as GET /v1/atp answers', async () => {
  expect((await admin().putRules({ channels: { web: { tier: 2 } }, protect: { '1': 2 } })).status).toBe(200);
  await admin().setStock('EX-1', 'DC1', 10);
  await admin().setStock('EX-2', 'DC1', 4);
  await publish();

  // first run: the snapshot of its SKUs (10 − 2 protected, 4 − 2), nothing from the feed yet
  expect(await consume()).toEqual([
    { sku: 'EX-1', available: 8, source: 'snapshot' },
    { sku: 'EX-2', available: 2, source: 'snapshot' },
  ]);

  // a sale and a count: the next run prints the new web figures only
  expect((await admin().reserve({ orderRef: 'ex-1', channel: 'web', lines: [{ sku: 'EX-1', qty: 3 }] })).status).toBe(201);
  await admin().setStock('EX-3', 'DC1', 7); // not one of its listings, still its channel: printed too
  await publish();
  const lines = await consume();
  expect(lines.map(({ sku, available, source }) => ({ sku, available, source }))).toEqual([
    { sku: 'EX-1', available: 5, source: 'event' },
    { sku: 'EX-3', available: 5, source: 'event' },
  ]);
  for (const l of lines) expect(l.available).toBe(await webFigure(l.sku));

  // caught up: nothing printed twice
  expect(await consume()).toEqual([]);
});
