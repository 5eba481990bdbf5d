/**
 * A replay answers what the first request was answered: the same status, the same Content-Type
 * and, for a reservation (its answer is kept as JSON text on its row), the same bytes. Other verbs'
 * answers are stored as jsonb in idempotency_keys: their replay is the same JSON document.
 * The verbs return domain values; the route alone decides the status code, for the first answer
 * and its replay alike.
 */
import { appendFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();

/** ids and instants differ between runs; everything else of an answer does not */
const norm = (a: Record<string, unknown>) => JSON.stringify(a).replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ':id').replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, ':t');

async function twice(method: string, path: string, body: unknown, key: string) {
  const send = async () => {
    const r = await t.api.raw(path, { method, headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
    return { status: r.status, type: r.headers.get('content-type'), replayed: r.headers.get('idempotent-replayed'), location: r.headers.get('location'), text: await r.text() };
  };
  const first = await send();
  const again = await send();
  expect(first.replayed).toBeNull();
  expect(again.replayed).toBe('true');
  expect([again.status, again.type, again.location]).toEqual([first.status, first.type, first.location]);
  if (path === '/v1/reservations') expect(again.text).toBe(first.text);
  else expect(JSON.parse(again.text)).toEqual(JSON.parse(first.text));
  if (process.env.RB_OUT) appendFileSync(process.env.RB_OUT, `${JSON.stringify({ method, path: path.replace(/[0-9a-f-]{36}/g, ':id'), first: norm(first), again: norm(again) })}\n`);
  return first;
}

describe('replays', () => {
  it('reservation verbs: 201 then 200s, each replay the first answer', async () => {
    expect((await t.api.setStock('RB-1', 'DC1', 50)).status).toBe(200);
    const r = await twice('POST', '/v1/reservations', { orderRef: 'rb-1', channel: 'web', holdSeconds: 600, lines: [{ sku: 'RB-1', qty: 5 }] }, 'rb-res');
    expect(r.status).toBe(201);
    const id = JSON.parse(r.text).id as string;
    expect(r.location).toBe(`/v1/reservations/${id}`);
    expect((await twice('POST', `/v1/reservations/${id}/extend`, { holdSeconds: 900 }, 'rb-ext')).status).toBe(200);
    expect((await twice('POST', `/v1/reservations/${id}/release`, { lines: [{ sku: 'RB-1', qty: 1 }] }, 'rb-rel')).status).toBe(200);
    expect((await twice('POST', `/v1/reservations/${id}/commit`, {}, 'rb-com')).status).toBe(200);
  });

  it('supply, short pick and reconciliation verbs: their status, each replay the first answer', async () => {
    const s = await twice('POST', '/v1/supply', { sku: 'RB-2', location: 'DC1', qty: 10, expectedAt: '2031-01-01T00:00:00.000Z' }, 'rb-sup');
    expect(s.status).toBe(201);
    const id = JSON.parse(s.text).id as string;
    expect((await twice('PATCH', `/v1/supply/${id}`, { qty: 12 }, 'rb-upd')).status).toBe(200);
    expect((await twice('POST', `/v1/supply/${id}/receipts`, { qty: 2 }, 'rb-rcv')).status).toBe(200);
    expect((await twice('POST', `/v1/supply/${id}/cancel`, {}, 'rb-can')).status).toBe(200);
    expect((await t.api.setStock('RB-3', 'DC1', 8)).status).toBe(200);
    expect((await twice('POST', '/v1/short-picks', { sku: 'RB-3', location: 'DC1', expectedQty: 8, foundQty: 6, reason: 'bin' }, 'rb-sp')).status).toBe(201);
    expect((await twice('POST', '/v1/reconciliations', { snapshot: [{ sku: 'RB-3', location: 'DC1', onHand: 5 }], apply: true }, 'rb-rec')).status).toBe(200);
  });
});
