/** Shared by the supply / promise / short-pick tests: an HTTP client on the app (the contract-checking one of api.ts) and invariant checks on the database. */
import postgres from 'postgres';
import { expect } from 'vitest';
import type { Service } from '../../src/service.js';
import { client as apiClient } from './api.js';

let seq = 0;

export function client(svc: Service) {
  const api = apiClient(svc.app);
  const call = async (method: string, path: string, body?: unknown, key?: string) => {
    const headers: Record<string, string> = {};
    if (method !== 'GET' && method !== 'PUT') headers['idempotency-key'] = key ?? `k-${process.pid}-${++seq}-${Math.random()}`;
    // the documented client contract: a 503 (lock wait, contention) or 429 (shed) is retried with the same Idempotency-Key
    let res = await api.call(method, path, body, headers);
    for (let attempt = 0; (res.status === 503 || res.status === 429) && attempt < 30; attempt++) {
      // after the Retry-After it names (jittered, at most 2 s), else shortly
      const after = Number(res.headers.get('retry-after'));
      await new Promise((r) => setTimeout(r, after > 0 ? Math.min(after, 2) * 1000 * (0.25 + Math.random() / 2) : 20 + Math.random() * 50));
      res = await api.call(method, path, body, headers);
    }
    return res;
  };
  return {
    call,
    put: (sku: string, location: string, body: object) => call('PUT', `/v1/inventory/${sku}/${location}`, body),
    location: (id: string, rank: number) => call('PUT', `/v1/locations/${id}`, { rank }),
    supply: (body: object, key?: string) => call('POST', '/v1/supply', body, key),
    reserve: (body: object, key?: string) => call('POST', '/v1/reservations', body, key),
    receive: (id: string, body: object, key?: string) => call('POST', `/v1/supply/${id}/receipts`, body, key),
    patch: (id: string, body: object, key?: string) => call('PATCH', `/v1/supply/${id}`, body, key),
    cancel: (id: string, body: object = {}, key?: string) => call('POST', `/v1/supply/${id}/cancel`, body, key),
    promise: (body: object) => call('POST', '/v1/promise', body),
    atp: (sku: string, channel?: string) => call('GET', `/v1/atp?sku=${sku}${channel ? `&channel=${channel}` : ''}`),
    get: (id: string) => call('GET', `/v1/reservations/${id}`),
    changes: (id: string) => call('GET', `/v1/reservations/${id}/changes`),
    rules: (body: object) => call('PUT', '/v1/rules', body),
    /** the service's own consistency check (GET /v1/consistency): every stored aggregate re-derived */
    consistent: async () => {
      const r = await call('GET', '/v1/consistency');
      expect(r.status).toBe(200);
      expect(r.body.breaches).toEqual([]);
    },
  };
}

export const day = (n: number) => new Date(Date.UTC(2030, 0, 1) + n * 86_400_000).toISOString();

/**
 * The stock invariants for one SKU, read straight from the tables:
 * - positions: reserved == Σ active on-hand allocations; on_hand == Σ ledger deltas; reserved + hold <= on_hand;
 * - supply: allocated == Σ active allocations against it; allocated + received <= qty; received == Σ receipt ledger rows
 *   (received never counts twice); cancelled/received supply holds no backorders;
 * - channel holds == Σ active allocations per channel (on hand and backordered).
 */
export async function checkInvariants(url: string, sku: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const positions = await sql<{ location: string; on_hand: number; reserved: number; quality_hold: number; alloc: number; ledger: number }[]>`
      select p.location, p.on_hand, p.reserved, p.quality_hold,
        (select coalesce(sum(qty),0)::int from allocations a where a.sku = p.sku and a.location = p.location and a.supply_id is null) as alloc,
        (select coalesce(sum(delta_on_hand),0)::int from ledger g where g.sku = p.sku and g.location = p.location) as ledger
      from positions p where p.sku = ${sku}`;
    for (const p of positions) {
      expect(p.reserved, `reserved at ${p.location}`).toBe(p.alloc);
      expect(p.on_hand, `ledger at ${p.location}`).toBe(p.ledger);
      expect(p.reserved + p.quality_hold).toBeLessThanOrEqual(p.on_hand);
    }
    const supplies = await sql<{ id: string; qty: number; received_qty: number; allocated_qty: number; status: string; alloc: number; receipts: number }[]>`
      select s.id, s.qty, s.received_qty, s.allocated_qty, s.status,
        (select coalesce(sum(qty),0)::int from allocations a where a.supply_id = s.id) as alloc,
        (select coalesce(sum(delta_on_hand),0)::int from ledger g where g.reason = 'receipt' and g.ref like 'supply:' || s.id::text || '%') as receipts
      from supply s where s.sku = ${sku}`;
    for (const s of supplies) {
      expect(s.allocated_qty, `allocated of supply ${s.id}`).toBe(s.alloc);
      expect(s.allocated_qty + s.received_qty).toBeLessThanOrEqual(s.qty);
      expect(s.received_qty, `receipts of ${s.id}`).toBe(s.receipts);
      if (s.status !== 'open') expect(s.allocated_qty).toBe(0);
    }
    const holds = await sql<{ channel: string; reserved: number; alloc: number }[]>`
      select h.channel, h.reserved,
        (select coalesce(sum(a.qty),0)::int from allocations a join reservations r on r.id = a.reservation_id where a.sku = h.sku and r.channel = h.channel) as alloc
      from channel_holds h where h.sku = ${sku}`;
    for (const h of holds) expect(h.reserved, `channel hold ${h.channel}`).toBe(h.alloc);
  } finally {
    await sql.end();
  }
}
