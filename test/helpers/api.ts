/**
 * The one HTTP client of the tests: over `app.request` (no sockets) or, with `overHttp(base)`, a real
 * socket. Every answer is checked against the service's own /openapi.json with documented objects
 * closed (see contract.ts): an undeclared status, content type or field fails the test with the
 * operation, the status and the JSON pointer. Plus the database invariants every test checks.
 */
import postgres from 'postgres';
import { expect } from 'vitest';
import { checked, contractOf } from './contract.js';

export type Fetchable = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

export interface Reply<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

const sockets = new Map<string, Fetchable>();
/** A service listening at `base` (e.g. `http://127.0.0.1:8080`), as a Fetchable (one per base, so its contract is fetched once). */
export function overHttp(base: string): Fetchable {
  let f = sockets.get(base);
  if (!f) {
    f = { request: (path, init) => fetch(new URL(path, base), init) };
    sockets.set(base, f);
  }
  return f;
}

export function client(app: Fetchable, auth?: string) {
  let seq = 0;
  /**
   * Any request, answered as a Response that has been checked against the document (read it as
   * usual). For what `call` cannot express: raw bytes, no Authorization header, streams.
   */
  const raw = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const res = await app.request(path, init);
    return checked(app, init.method ?? 'GET', path, res);
  };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> => {
    const h: Record<string, string> = { ...headers };
    if (auth) h.authorization ??= `Bearer ${auth}`;
    if (body !== undefined) h['content-type'] ??= 'application/json';
    const res = await app.request(path, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    (await contractOf(app)).assert({ method, path, status: res.status, contentType: res.headers.get('content-type'), text }, parsed);
    return { status: res.status, headers: res.headers, body: parsed };
  };
  const key = () => `k-${process.pid}-${Date.now().toString(36)}-${++seq}`;
  return {
    call,
    raw,
    setStock: (sku: string, location: string, onHand: number, extra: Record<string, unknown> = {}) => call('PUT', `/v1/inventory/${encodeURIComponent(sku)}/${encodeURIComponent(location)}`, { onHand, ...extra }),
    reserve: (body: Record<string, unknown>, idempotencyKey = key()) => call('POST', '/v1/reservations', body, { 'idempotency-key': idempotencyKey }),
    get: (id: string) => call('GET', `/v1/reservations/${id}`),
    release: (id: string, body: Record<string, unknown> = {}, idempotencyKey = key()) => call('POST', `/v1/reservations/${id}/release`, body, { 'idempotency-key': idempotencyKey }),
    commit: (id: string, body: Record<string, unknown> = {}, idempotencyKey = key()) => call('POST', `/v1/reservations/${id}/commit`, body, { 'idempotency-key': idempotencyKey }),
    extend: (id: string, holdSeconds: number, idempotencyKey = key()) => call('POST', `/v1/reservations/${id}/extend`, { holdSeconds }, { 'idempotency-key': idempotencyKey }),
    atp: (skus: string[], channel?: string) => call('GET', `/v1/atp?${skus.map((s) => `sku=${encodeURIComponent(s)}`).join('&')}${channel ? `&channel=${encodeURIComponent(channel)}` : ''}`),
    rules: () => call('GET', '/v1/rules'),
    putRules: (doc: unknown, ifMatch?: string) => call('PUT', '/v1/rules', doc, ifMatch ? { 'if-match': ifMatch } : {}),
  };
}

export type Client = ReturnType<typeof client>;

export interface PositionRow {
  sku: string;
  location: string;
  on_hand: number;
  reserved: number;
}

/**
 * The invariants of DESIGN.md checked straight from the tables: per position reserved == Σ active
 * on-hand allocations, the ledger sums to onHand (reserved is not ledgered), nothing negative, reserved + hold
 * ≤ onHand; per reservation, status agrees with what it still holds. Returns the positions.
 */
export async function expectInvariants(url: string, skuPrefix = ''): Promise<PositionRow[]> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const like = `${skuPrefix}%`;
    const positions = await sql<(PositionRow & { quality_hold: number; alloc: number; l_oh: number })[]>`
      select p.sku, p.location, p.on_hand, p.reserved, p.quality_hold,
        coalesce((select sum(a.qty) from allocations a where a.sku = p.sku and a.location = p.location and a.supply_id is null), 0)::int as alloc,
        coalesce((select sum(l.delta_on_hand) from ledger l where l.sku = p.sku and l.location = p.location), 0)::int as l_oh
      from positions p where p.sku like ${like} order by p.sku, p.location`;
    for (const p of positions) {
      const where = `${p.sku}@${p.location}`;
      expect(p.reserved, `${where}: reserved == Σ active allocations`).toBe(p.alloc);
      expect(p.on_hand, `${where}: ledger Σ delta_on_hand == onHand`).toBe(p.l_oh);
      expect(p.reserved, `${where}: reserved >= 0`).toBeGreaterThanOrEqual(0);
      expect(p.reserved + p.quality_hold, `${where}: reserved + hold <= onHand (no oversell)`).toBeLessThanOrEqual(p.on_hand);
    }
    const badStatus = await sql`
      select r.id, r.status, coalesce(sum(a.qty), 0)::int as held, coalesce(sum(a.committed_qty), 0)::int as shipped
      from reservations r left join allocations a on a.reservation_id = r.id
      where exists (select 1 from reservation_lines l where l.reservation_id = r.id and l.sku like ${like})
      group by r.id, r.status
      having (r.status = 'held') <> (coalesce(sum(a.qty), 0) > 0)
          or (r.status = 'committed' and coalesce(sum(a.committed_qty), 0) = 0)`;
    expect(badStatus, 'reservation status agrees with what it holds').toEqual([]);
    const negative = await sql`select id from allocations where qty < 0 or committed_qty < 0 or released_qty < 0`;
    expect(negative).toEqual([]);
    return positions.map(({ sku, location, on_hand, reserved }) => ({ sku, location, on_hand, reserved }));
  } finally {
    await sql.end();
  }
}
