/**
 * The API smoke scenario (README walk-through): load stock, reserve, read, ATP, partial release,
 * commit, release, and the main refusals. Run against Postgres and against the embedded PGlite
 * default, so both modes are held to the same answers.
 */
import { expect } from 'vitest';
import type { Client } from './api.js';

export async function apiSmoke(api: Client, prefix: string): Promise<void> {
  const A = `${prefix}-A`;
  const B = `${prefix}-B`;
  expect((await api.call('PUT', '/v1/locations/DC1', { name: 'Main DC', rank: 1 })).status).toBe(200);
  expect((await api.call('PUT', '/v1/locations/DC2', { name: 'Overflow', rank: 2 })).status).toBe(200);
  expect((await api.setStock(A, 'DC1', 10)).status).toBe(200);
  expect((await api.setStock(A, 'DC2', 5)).status).toBe(200);
  expect((await api.setStock(B, 'DC1', 3)).status).toBe(200);

  // all-or-nothing across lines, same SKU on two lines summed, split across locations
  const r = await api.reserve({ orderRef: `${prefix}-o1`, channel: 'web', lines: [{ sku: A, qty: 8 }, { sku: A, qty: 4 }, { sku: B, qty: 2 }], holdSeconds: 900 });
  expect(r.status).toBe(201);
  expect(r.headers.get('location')).toBe(`/v1/reservations/${r.body.id}`);
  expect(r.body.status).toBe('held');
  const heldA = r.body.lines.filter((l: { sku: string }) => l.sku === A).flatMap((l: { allocations: { location: string; qty: number }[] }) => l.allocations);
  expect(heldA.reduce((s: number, a: { qty: number }) => s + a.qty, 0)).toBe(12);
  expect(new Set(heldA.map((a: { location: string }) => a.location))).toEqual(new Set(['DC1', 'DC2']));

  const atp = await api.atp([A, B]);
  expect(atp.status).toBe(200);
  const byS = Object.fromEntries(atp.body.skus.map((s: { sku: string }) => [s.sku, s]));
  expect(byS[A]).toMatchObject({ onHand: 15, reserved: 12, available: 3 });
  expect(byS[B]).toMatchObject({ onHand: 3, reserved: 2, available: 1 });

  // refused: more than is left — nothing written (B is untouched afterwards)
  const short = await api.reserve({ orderRef: `${prefix}-o2`, channel: 'web', lines: [{ sku: B, qty: 1 }, { sku: A, qty: 4 }] });
  expect(short.status).toBe(409);
  expect(short.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(short.body).toMatchObject({ status: 409, code: 'insufficient-stock' });
  expect(short.body.lines).toEqual([expect.objectContaining({ sku: A, requested: 4, available: 3 })]);
  expect((await api.atp([B])).body.skus[0].available).toBe(1);

  // idempotent replay returns the first answer
  const again = await api.reserve({ orderRef: `${prefix}-o3`, channel: 'web', lines: [{ sku: B, qty: 1 }] }, `${prefix}-key`);
  const replay = await api.reserve({ orderRef: `${prefix}-o3`, channel: 'web', lines: [{ sku: B, qty: 1 }] }, `${prefix}-key`);
  expect(again.status).toBe(201);
  expect(replay.status).toBe(201);
  expect(replay.body).toEqual(again.body);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');

  // partial release, partial commit, then the rest
  const rel = await api.release(r.body.id, { lines: [{ sku: A, qty: 2 }] });
  expect(rel.status).toBe(200);
  expect(rel.body.status).toBe('held');
  const com = await api.commit(r.body.id, { lines: [{ sku: A, qty: 10 }] });
  expect(com.status).toBe(200);
  const ext = await api.extend(r.body.id, 3600);
  expect(ext.status).toBe(200);
  const done = await api.commit(r.body.id);
  expect(done.status).toBe(200);
  expect(done.body.status).toBe('committed');
  const atp2 = Object.fromEntries((await api.atp([A, B])).body.skus.map((s: { sku: string }) => [s.sku, s]));
  expect(atp2[A]).toMatchObject({ onHand: 5, reserved: 0, available: 5 });
  expect(atp2[B]).toMatchObject({ onHand: 1, reserved: 1, available: 0 });

  // wrong transition and unknown id
  expect((await api.commit(r.body.id)).status).toBe(409);
  expect((await api.release(again.body.id)).body.status).toBe('released');
  expect((await api.release(again.body.id)).status).toBe(200); // idempotent
  expect((await api.get('00000000-0000-4000-8000-000000000000')).status).toBe(404);
  const got = await api.get(r.body.id);
  expect(got.status).toBe(200);
  expect(got.body.status).toBe('committed');
}
