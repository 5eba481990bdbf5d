/**
 * Issue 16, API items seen through HTTP as a caller would:
 * - 8: releasing a committed reservation is a 409 invalid-state with its status, and changes
 *   nothing; a line that holds nothing any more says `released` or `committed`;
 * - 11: a malformed `after` cursor is a 400 validation-failed naming `query.after`;
 * - 12: every response carries X-Request-Id, errors from every layer included;
 * - 13: a known path with a method it does not serve is a 405 problem with an Allow header
 *   derived from the routes the app registered;
 * - 16: a hold without holdSeconds never expires (documented); extend never shortens a hold
 *   (409 hold-would-shorten naming body.holdSeconds, nothing changes).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { answerMalformedRequests } from '../src/http/client-error.js';
import { createService, type Service } from '../src/service.js';
import { expectInvariants, type Reply } from './helpers/api.js';
import { servedRoutes } from './helpers/routes.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture({ ATP_MAX_BODY_BYTES: '2048' });

function expectProblem(r: Reply, status: number, code: string, field?: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, code, title: expect.any(String) });
  if (field) expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

/** rows that any change writes: a refused request must leave every count as it was */
async function footprint() {
  const [row] = await t.sql`select (select count(*) from outbox)::int as outbox, (select count(*) from ledger)::int as ledger,
    (select count(*) from idempotency_keys)::int as keys, (select coalesce(sum(reserved), 0) from positions)::int as reserved,
    (select count(*) from allocations where qty > 0)::int as held`;
  return row;
}

describe('event cursor (item 11)', () => {
  it.each([
    ['abc', /cursor/],
    ['1.2.3', /cursor/],
    ['-1.0', /cursor/],
    ['99999999999999999999.1', /out of range/],
  ])('after=%s → 400 validation-failed naming query.after', async (after, reason) => {
    const r = await t.api.call('GET', `/v1/events?after=${encodeURIComponent(after)}`);
    expectProblem(r, 400, 'validation-failed', 'query.after');
    expect(r.body.errors.find((e: { field: string }) => e.field === 'query.after').reason).toMatch(reason);
  });

  it('a cursor returned as next is still accepted', async () => {
    const r = await t.api.call('GET', '/v1/events?limit=1');
    expect(r.status).toBe(200);
    expect((await t.api.call('GET', `/v1/events?after=${r.body.next}`)).status).toBe(200);
  });
});

describe('X-Request-Id on every response (item 12)', () => {
  const KEYS = { admin: `adm_${randomBytes(12).toString('hex')}`, a: `cha_${randomBytes(12).toString('hex')}` };
  let keyed: Service;
  let shedding: Service;

  beforeAll(async () => {
    const base = { DATABASE_URL: t.db.url, LOG_LEVEL: 'silent', ATP_DB_POOL_MAX: '2' };
    keyed = await createService(loadConfig({ ...base, ATP_API_KEYS: `${KEYS.admin}=admin,${KEYS.a}=channel:a` }), { sweeper: false });
    // one request in flight, none waiting: the rest of a burst is shed with 429
    shedding = await createService(loadConfig({ ...base, ATP_QUEUE_MAX: '1', ATP_BATCH_MAX: '1', ATP_BATCH_CONCURRENCY: '1', ATP_QUEUE_BUDGET_MS: '0' }), { sweeper: false });
    expect((await t.api.setStock('RID-1', 'DC1', 1000)).status).toBe(200);
  });
  afterAll(async () => {
    await keyed?.stop();
    await shedding?.stop();
  });

  const req = (svc: Service, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
    svc.app.request(path, { method, headers: init.headers ?? {}, body: init.body });
  const json = { 'content-type': 'application/json' };
  const expectId = (res: Response, status: number, sent?: string) => {
    expect(res.status).toBe(status);
    const id = res.headers.get('x-request-id');
    if (sent) expect(id).toBe(sent);
    else expect(id).toMatch(/^[0-9a-f-]{36}$/);
  };

  it('auth (401, 403), validation (400), malformed JSON (400), 404, 405, 413 and 415 carry it, echoed when sent', async () => {
    expectId(await req(keyed, 'GET', '/v1/rules'), 401);
    expectId(await req(keyed, 'GET', '/v1/rules', { headers: { 'x-request-id': 'caller-401' } }), 401, 'caller-401');
    expectId(await req(keyed, 'PUT', '/v1/rules', { headers: { authorization: `Bearer ${KEYS.a}`, ...json }, body: '{}' }), 403);
    expectId(await req(t.svc, 'PUT', '/v1/inventory/RID-1/DC1', { headers: json, body: '{"onHand":-1}' }), 400);
    expectId(await req(t.svc, 'PUT', '/v1/inventory/RID-1/DC1', { headers: { ...json, 'x-request-id': 'caller-400' }, body: '{"onHand":' }), 400, 'caller-400');
    expectId(await req(t.svc, 'GET', '/v1/reservations/4b1d7c1e-0000-4000-8000-000000000001'), 404);
    expectId(await req(t.svc, 'GET', '/v1/nothing'), 404);
    expectId(await req(t.svc, 'DELETE', '/v1/reservations', { headers: { 'x-request-id': 'caller-405' } }), 405, 'caller-405');
    expectId(await req(t.svc, 'PUT', '/v1/inventory/RID-1/DC1', { headers: json, body: JSON.stringify({ onHand: 1, reason: 'x'.repeat(4000) }) }), 413);
    const media = await req(t.svc, 'PUT', '/v1/inventory/RID-1/DC1', { headers: { 'content-type': 'text/plain' }, body: 'onHand=1' });
    expect([400, 415]).toContain(media.status);
    expectId(media, media.status);
  });

  it('409, 429 (load shed), 500 (a bug) and 503 (database down) carry it', async () => {
    const r = await t.api.reserve({ orderRef: 'rid', channel: 'web', lines: [{ sku: 'RID-1', qty: 5000 }] });
    expect(r.status).toBe(409);
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const burst = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        req(shedding, 'POST', '/v1/reservations', {
          headers: { ...json, 'idempotency-key': `burst-${i}` },
          body: JSON.stringify({ orderRef: `b${i}`, channel: 'web', lines: [{ sku: 'RID-1', qty: 1 }] }),
        }),
      ),
    );
    const shed = burst.filter((x) => x.status === 429);
    expect(shed.length).toBeGreaterThan(0);
    for (const x of burst) expect(x.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    // a dependency that throws something unknown (a bug: 500), and one that lost its database connection (503)
    const fresh = vi.spyOn(t.svc.catalog, 'fresh');
    fresh.mockRejectedValueOnce(new Error('boom'));
    fresh.mockRejectedValueOnce(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }));
    const body = JSON.stringify({ orderRef: 'x', channel: 'web', lines: [{ sku: 'RID-1', qty: 1 }] });
    const bug = await req(t.svc, 'POST', '/v1/reservations', { headers: { ...json, 'idempotency-key': 'bug', 'x-request-id': 'caller-500' }, body });
    expectId(bug, 500, 'caller-500');
    expect(((await bug.json()) as { detail: string }).detail).toContain('caller-500');
    expectId(await req(t.svc, 'POST', '/v1/reservations', { headers: { ...json, 'idempotency-key': 'down' }, body }), 503);
    fresh.mockRestore();
  });

  it('over a real socket (the header is set on Node’s response, not on the Response): every layer’s answer carries it, and a 201 its Location and the stored bytes', async () => {
    const listen = async (svc: Service) => {
      const server = serve({ fetch: svc.app.fetch, port: 0, hostname: '127.0.0.1' });
      await new Promise<void>((r) => server.once('listening', () => r()));
      return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    };
    const open = await listen(t.svc);
    const locked = await listen(keyed);
    const at = (base: string, method: string, path: string, init: { headers?: Record<string, string>; body?: string } = {}) =>
      fetch(new URL(path, base), { method, headers: init.headers ?? {}, body: init.body });
    try {
      expectId(await at(locked.base, 'GET', '/v1/rules'), 401);
      expectId(await at(locked.base, 'GET', '/v1/rules', { headers: { 'x-request-id': 'sock-401' } }), 401, 'sock-401');
      expectId(await at(locked.base, 'PUT', '/v1/rules', { headers: { authorization: `Bearer ${KEYS.a}`, ...json }, body: '{}' }), 403);
      expectId(await at(open.base, 'PUT', '/v1/inventory/RID-1/DC1', { headers: { ...json, 'x-request-id': 'sock-400' }, body: '{"onHand":' }), 400, 'sock-400');
      expectId(await at(open.base, 'GET', '/v1/nothing'), 404);
      expectId(await at(open.base, 'DELETE', '/v1/reservations', { headers: { 'x-request-id': 'sock-405' } }), 405, 'sock-405');
      expectId(await at(open.base, 'PUT', '/v1/inventory/RID-1/DC1', { headers: json, body: JSON.stringify({ onHand: 1, reason: 'x'.repeat(4000) }) }), 413);
      // the header validator reads every header from Node's parsed headers: a missing key is named, a present one accepted (below)
      const keyless = await at(open.base, 'POST', '/v1/reservations', { headers: json, body: JSON.stringify({ orderRef: 'k', channel: 'web', lines: [{ sku: 'RID-1', qty: 1 }] }) });
      expectId(keyless, 400);
      expect(((await keyless.json()) as { code: string }).code).toBe('idempotency-key-required');
      // an id that is not plain is replaced, never echoed
      expectId(await at(open.base, 'GET', '/healthz', { headers: { 'x-request-id': 'not plain!' } }), 200);
      const refused = await at(open.base, 'POST', '/v1/reservations', {
        headers: { ...json, 'idempotency-key': 'sock-409' },
        body: JSON.stringify({ orderRef: 'sock', channel: 'web', lines: [{ sku: 'RID-1', qty: 5000 }] }),
      });
      expectId(refused, 409);
      expect(refused.headers.get('location')).toBeNull();
      const body = JSON.stringify({ orderRef: 'sock-ok', channel: 'web', lines: [{ sku: 'RID-1', qty: 1 }] });
      const first = await at(open.base, 'POST', '/v1/reservations', { headers: { ...json, 'idempotency-key': 'sock-201', 'x-request-id': 'sock-201' }, body });
      expectId(first, 201, 'sock-201');
      const text = await first.text();
      const id = (JSON.parse(text) as { id: string }).id;
      expect(first.headers.get('location')).toBe(`/v1/reservations/${id}`);
      expect(first.headers.get('content-type')).toMatch(/^application\/json/);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const again = await at(open.base, 'POST', '/v1/reservations', { headers: { ...json, 'idempotency-key': 'sock-201' }, body });
      expectId(again, 201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.headers.get('location')).toBe(`/v1/reservations/${id}`);
      expect(await again.text()).toBe(text);
      // the headers of one request never leak into the next on the same keep-alive connection
      const after = await at(open.base, 'GET', '/healthz');
      expect(after.headers.get('location')).toBeNull();
      expect(after.headers.get('idempotent-replayed')).toBeNull();
    } finally {
      await new Promise((r) => open.server.close(r));
      await new Promise((r) => locked.server.close(r));
    }
  });

  it('a request Node’s HTTP parser rejects gets a problem with an X-Request-Id too', async () => {
    const server = createServer((_req, res) => res.end());
    answerMalformedRequests(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const raw = await new Promise<string>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'));
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 400 /);
      expect(raw).toMatch(/\r\nX-Request-Id: [0-9a-f-]{36}\r\n/i);
    } finally {
      server.close();
    }
  });
});

describe('405 with Allow (item 13)', () => {
  /**
   * Plain requests, not the API client: the operations asked for here are, by definition, not in
   * the OpenAPI document (a client that checks answers against it has nothing to check them by).
   */
  const raw = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const headers: Record<string, string> = { 'idempotency-key': `m-${randomBytes(4).toString('hex')}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await t.svc.app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, headers: res.headers, body: await res.json() };
  };
  /** a concrete path for a route pattern: any value routes (formats are checked after routing) */
  const concrete = (pattern: string) => pattern.replace(/\{[^}]+\}/g, 'X-1');
  const byPath = () => {
    const m = new Map<string, Set<string>>();
    for (const r of servedRoutes(t.svc.app)) {
      const [method, path] = r.split(' ') as [string, string];
      m.set(path, (m.get(path) ?? new Set()).add(method));
    }
    return m;
  };

  it('every served path answers a method it does not serve with 405, Allow listing exactly what the router serves there', async () => {
    const paths = byPath();
    expect(paths.size).toBeGreaterThan(20);
    for (const [pattern, methods] of paths) {
      const wrong = ['DELETE', 'PATCH', 'PUT', 'POST'].find((m) => !methods.has(m))!;
      const r = await raw(wrong, concrete(pattern), wrong === 'DELETE' ? undefined : {});
      expectProblem(r, 405, 'method-not-allowed');
      const allow = [...methods, ...(methods.has('GET') ? ['HEAD'] : [])].sort();
      expect(r.headers.get('allow'), `${wrong} ${pattern}`).toBe(allow.join(', '));
      expect(r.body.allow).toEqual(allow);
      expect(r.body.detail).toContain(wrong);
    }
  });

  it('examples a user meets; an unknown path is still 404; nothing is written', async () => {
    const before = await footprint();
    const del = await raw('DELETE', '/v1/reservations');
    expectProblem(del, 405, 'method-not-allowed');
    expect(del.headers.get('allow')).toBe('POST');
    expect((await raw('PUT', '/v1/atp?sku=A', {})).headers.get('allow')).toBe('GET, HEAD');
    expect((await raw('POST', '/v1/kits/K-1', {})).headers.get('allow')).toBe('DELETE, GET, HEAD, PUT');
    expect((await raw('DELETE', '/v1/reservations/4b1d7c1e-0000-4000-8000-000000000001')).headers.get('allow')).toBe('GET, HEAD');
    expectProblem(await raw('GET', '/v1/nothing-here'), 404, 'not-found');
    expectProblem(await raw('DELETE', '/v1/reservations/x/y/z'), 404, 'not-found');
    expect(await footprint()).toEqual(before);
  });
});

describe('release and line status (item 8)', () => {
  beforeAll(async () => {
    expect((await t.api.setStock('REL-1', 'DC1', 100)).status).toBe(200);
  });

  it('releasing a committed reservation is 409 invalid-state naming its status, and changes nothing', async () => {
    const r = await t.api.reserve({ orderRef: 'rel-c', channel: 'web', lines: [{ sku: 'REL-1', qty: 2 }] });
    expect((await t.api.commit(r.body.id)).status).toBe(200);
    const before = await footprint();
    for (const body of [{}, { lines: [{ sku: 'REL-1', qty: 1 }] }]) {
      const rel = await t.api.release(r.body.id, body);
      expectProblem(rel, 409, 'invalid-state');
      expect(rel.body.reservationStatus).toBe('committed');
      expect(rel.body.detail).toMatch(/committed/);
    }
    expect(await footprint()).toEqual(before);
    const g = await t.api.get(r.body.id);
    expect(g.body.status).toBe('committed');
    expect(g.body.lines.map((l: { status: string }) => l.status)).toEqual(['committed']);
  });

  it('a released line says released (in the answer, on GET and in the event); a released reservation released again is a no-op', async () => {
    const r = await t.api.reserve({ orderRef: 'rel-r', channel: 'web', lines: [{ sku: 'REL-1', qty: 3 }, { sku: 'REL-1', qty: 1, location: 'DC1' }] });
    expect(r.status).toBe(201);
    const part = await t.api.release(r.body.id, { lines: [{ sku: 'REL-1', qty: 1 }] });
    expect(part.status).toBe(200);
    expect(part.body.status).toBe('held');
    // release takes the newest allocation first: line 2 gave up its only unit, line 1 still holds 3
    expect(part.body.lines.map((l: { status: string }) => l.status)).toEqual(['allocated', 'released']);
    const rel = await t.api.release(r.body.id);
    expect(rel.status).toBe(200);
    expect(rel.body.status).toBe('released');
    expect(rel.body.lines.map((l: { status: string }) => l.status)).toEqual(['released', 'released']);
    expect((await t.api.get(r.body.id)).body.lines.map((l: { status: string }) => l.status)).toEqual(['released', 'released']);
    const [ev] = await t.sql`select data from outbox where subject = ${r.body.id} and type = 'reservation.released' order by id desc limit 1`;
    expect(ev!.data.reservation.lines.map((l: { status: string }) => l.status)).toEqual(['released', 'released']);
    const before = await footprint();
    const again = await t.api.release(r.body.id);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe('released');
    expect((await footprint())!.outbox).toBe(before!.outbox);
  });

  it('part shipped, rest released: the reservation and its line say committed; an expired hold’s lines say released', async () => {
    const r = await t.api.reserve({ orderRef: 'rel-p', channel: 'web', lines: [{ sku: 'REL-1', qty: 4 }] });
    expect((await t.api.commit(r.body.id, { lines: [{ sku: 'REL-1', qty: 1 }] })).body.lines[0].status).toBe('allocated');
    const rel = await t.api.release(r.body.id);
    expect(rel.body.status).toBe('committed');
    expect(rel.body.lines[0].status).toBe('committed');

    const e = await t.api.reserve({ orderRef: 'rel-e', channel: 'web', lines: [{ sku: 'REL-1', qty: 2 }], holdSeconds: 600 });
    await t.sql`update reservations set expires_at = now() - interval '1 second' where id = ${e.body.id}`;
    expect(await t.svc.sweep()).toBeGreaterThanOrEqual(1);
    const g = await t.api.get(e.body.id);
    expect(g.body.status).toBe('expired');
    expect(g.body.lines[0].status).toBe('released');
    expect((await t.api.release(e.body.id)).status).toBe(200); // nothing held: a no-op
    await expectInvariants(t.db.url, 'REL-');
  });
});

describe('holds: default and extend (item 16)', () => {
  beforeAll(async () => {
    expect((await t.api.setStock('HOLD-1', 'DC1', 50)).status).toBe(200);
  });

  it('extend that would end the hold earlier is 409 naming body.holdSeconds, and changes nothing', async () => {
    const r = await t.api.reserve({ orderRef: 'h1', channel: 'web', lines: [{ sku: 'HOLD-1', qty: 1 }], holdSeconds: 600 });
    const expiresAt = r.body.expiresAt as string;
    const before = await footprint();
    const short = await t.api.extend(r.body.id, 60);
    expectProblem(short, 409, 'hold-would-shorten', 'body.holdSeconds');
    expect(short.body.expiresAt).toBe(expiresAt);
    expect(short.body.errors[0].reason).toContain(expiresAt);
    expect(await footprint()).toEqual(before);
    expect((await t.api.get(r.body.id)).body.expiresAt).toBe(expiresAt);
    const longer = await t.api.extend(r.body.id, 1200);
    expect(longer.status).toBe(200);
    expect(Date.parse(longer.body.expiresAt)).toBeGreaterThan(Date.parse(expiresAt));
  });

  it('without holdSeconds a hold never expires, and extend cannot put an end on it', async () => {
    const r = await t.api.reserve({ orderRef: 'h2', channel: 'web', lines: [{ sku: 'HOLD-1', qty: 1 }] });
    expect(r.body.expiresAt).toBeNull();
    const before = await footprint();
    const ext = await t.api.extend(r.body.id, 3600);
    expectProblem(ext, 409, 'hold-would-shorten', 'body.holdSeconds');
    expect(ext.body.errors[0].reason).toMatch(/never expires/);
    expect(await footprint()).toEqual(before);
    await t.sql`update reservations set created_at = now() - interval '30 days' where id = ${r.body.id}`;
    await t.svc.sweep();
    expect((await t.api.get(r.body.id)).body).toMatchObject({ status: 'held', expiresAt: null });
  });

  it('the OpenAPI document states the default and the rule', async () => {
    const doc = (await t.api.call('GET', '/openapi.json')).body;
    expect(doc.components.schemas.ReserveRequest.properties.holdSeconds.description).toMatch(/never expires/);
    expect(doc.components.schemas.ExtendRequest.properties.holdSeconds.description).toMatch(/hold-would-shorten/);
    expect(doc.paths['/v1/reservations/{id}/extend'].post.responses['409']).toBeDefined();
    expect(doc.components.schemas.Reservation.properties.lines.items.properties.status.enum).toEqual(expect.arrayContaining(['released', 'committed']));
  });
});
