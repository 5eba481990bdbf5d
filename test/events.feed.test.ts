/**
 * Invariants proven for GET /v1/events (the outbox feed):
 * 1. A consumer paging with `after = next` while reservations are being written concurrently
 *    sees every event exactly once, in the outbox's (txid, id) order — nothing skipped by a
 *    transaction that committed late (property over random page sizes as well).
 * 2. Scopes: admin/oms read everything; a channel key reads only reservation events of its
 *    own channels; bad cursors and limits are 400 problems.
 */
import fc from 'fast-check';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { CloudEvent, parseEventData } from '../src/contract/events.js';
import { newRouter } from '../src/http/context.js';
import { eventRoutes } from '../src/http/routes/events.js';
import { createService, type Service } from '../src/service.js';
import { client } from './helpers/api.js';
import { createTestDatabase } from './helpers/db.js';

const ADMIN = 'admin-key-0123456789';
const OMS = 'oms-key-0123456789ab';
const WEB = 'web-key-0123456789ab';
const B2B = 'b2b-key-0123456789ab';

let svc: Service;
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let pg: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase();
  svc = await createService(
    loadConfig({ DATABASE_URL: db.url, LOG_LEVEL: 'silent', ATP_API_KEYS: `${ADMIN}=admin,${OMS}=oms,${WEB}=channel:web,${B2B}=channel:b2b` }),
    { sweeper: false, relay: false },
  );
  pg = postgres(db.url, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await pg?.end();
  await svc?.stop();
  await db?.drop();
});

type Page = { events: CloudEvent[]; next: string };
let keyNo = 0;
const req = (app: Service['app'], method: string, url: string, key: string | undefined, body?: unknown) =>
  client(app).raw(url, {
    method,
    headers: { 'content-type': 'application/json', 'idempotency-key': `k-${++keyNo}`, ...(key ? { authorization: `Bearer ${key}` } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

async function page(app: Service['app'], after: string | undefined, limit: number, key?: string): Promise<Page> {
  const q = new URLSearchParams({ limit: String(limit), ...(after ? { after } : {}) });
  const res = await req(app, 'GET', `/v1/events?${q}`, key);
  expect(res.status).toBe(200);
  const body = (await res.json()) as Page;
  for (const e of body.events) {
    CloudEvent.parse(e);
    parseEventData(e.type, e.data);
  }
  return body;
}

async function readAll(app: Service['app'], limit: number, key?: string, from?: string): Promise<CloudEvent[]> {
  const out: CloudEvent[] = [];
  let after = from;
  for (;;) {
    const p = await page(app, after, limit, key);
    out.push(...p.events);
    if (p.events.length === 0) return out;
    expect(p.next).toBe(p.events.at(-1)!.atpseq);
    after = p.next;
  }
}

const dbOrder = async () => (await pg<{ event_id: string }[]>`select event_id from outbox order by txid, id`).map((r) => r.event_id);

describe('paging', () => {
  it('while reservations are written concurrently, paging sees every event once, in order', async () => {
    for (const sku of ['P', 'Q']) expect((await req(svc.app, 'PUT', `/v1/inventory/${sku}/DC1`, ADMIN, { onHand: 1000 })).status).toBe(200);
    let writing = true;
    const writers = (async () => {
      const all = await Promise.all(
        Array.from({ length: 150 }, async (_, i) => {
          const r = await req(svc.app, 'POST', '/v1/reservations', OMS, { orderRef: `p-${i}`, channel: i % 2 ? 'web' : 'b2b', lines: [{ sku: i % 3 ? 'P' : 'Q', qty: 1 }] });
          const { id } = (await r.json()) as { id: string };
          if (i % 4 === 0) await req(svc.app, 'POST', `/v1/reservations/${id}/release`, OMS, {});
          return r.status;
        }),
      );
      writing = false;
      return all;
    })();
    const seen: CloudEvent[] = [];
    let after: string | undefined;
    for (;;) {
      const done = !writing; // read once more after the writers finished
      const p = await page(svc.app, after, 7, OMS);
      seen.push(...p.events);
      after = p.next;
      if (p.events.length === 0 && done) break;
    }
    expect((await writers).every((s) => s === 201)).toBe(true);
    // a final read from the last cursor: anything settling after the loop ended
    seen.push(...(await readAll(svc.app, 50, OMS, after)));
    const ids = seen.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(await dbOrder());
    expect(ids.length).toBe(2 + 150 + Math.ceil(150 / 4));
  });

  it('any page size reads the same complete sequence', async () => {
    const expected = await dbOrder();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60 }), async (limit) => {
        expect((await readAll(svc.app, limit, ADMIN)).map((e) => e.id)).toEqual(expected);
      }),
      { numRuns: 15 },
    );
  });

  it('an event committed after an older transaction that is still open waits for it (xmin horizon)', async () => {
    const start = (await readAll(svc.app, 1000, ADMIN)).at(-1)!.atpseq;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const older = pg.begin(async (tx) => {
      await tx`insert into outbox (type, subject, data) values ('sku.sold_out', 'OLDER', ${tx.json({ sku: 'OLDER', at: new Date().toISOString() })})`;
      opened();
      await gate;
    });
    await isOpen;
    expect((await req(svc.app, 'PUT', '/v1/inventory/NEWER/DC1', ADMIN, { onHand: 1 })).status).toBe(200); // commits first
    const [row] = await pg<{ n: number }[]>`select count(*)::int as n from outbox where subject = 'NEWER@DC1'`;
    expect(row!.n).toBe(1); // committed and visible to a plain read...
    expect((await readAll(svc.app, 10, ADMIN, start)).map((e) => e.subject)).not.toContain('NEWER@DC1'); // ...but not yet in the feed
    release();
    await older;
    let after: CloudEvent[] = [];
    while (after.length < 2) after = await readAll(svc.app, 10, ADMIN, start);
    expect(after.map((e) => e.subject)).toEqual(['OLDER', 'NEWER@DC1']);
  });

  it('starting after any event continues exactly after it', async () => {
    const all = await readAll(svc.app, 1000, ADMIN);
    const k = Math.floor(all.length / 3);
    expect((await readAll(svc.app, 25, ADMIN, all[k]!.atpseq)).map((e) => e.id)).toEqual(all.slice(k + 1).map((e) => e.id));
  });
});

describe('scopes and validation', () => {
  it('a channel key reads only its own reservations; admin and oms read everything', async () => {
    const total = (await dbOrder()).length;
    expect(await readAll(svc.app, 1000, ADMIN)).toHaveLength(total);
    expect(await readAll(svc.app, 1000, OMS)).toHaveLength(total);
    const web = await readAll(svc.app, 13, WEB);
    expect(web.length).toBeGreaterThan(0);
    for (const e of web) expect((e.data as { reservation: { channel: string } }).reservation.channel).toBe('web');
    const b2b = await readAll(svc.app, 13, B2B);
    const [row] = await pg<{ n: number }[]>`select count(*)::int as n from outbox_event where data ? 'reservation'`;
    expect(web.length + b2b.length).toBe(row!.n);
  });

  it('refuses bad cursors, bad limits and missing keys', async () => {
    for (const q of ['after=abc', 'after=1', 'after=-1.2', 'limit=0', 'limit=1001', 'limit=x']) {
      const res = await req(svc.app, 'GET', `/v1/events?${q}`, ADMIN);
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
    }
    expect((await req(svc.app, 'GET', '/v1/events', undefined)).status).toBe(401);
  });

  it('is described in OpenAPI 3.1 (query parameters, CloudEvent schema)', () => {
    const router = newRouter();
    eventRoutes(router, {} as never);
    const doc = router.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
    const op = doc.paths?.['/v1/events']?.get;
    expect(op?.parameters?.map((p) => ('name' in p ? p.name : undefined))).toEqual(['after', 'type', 'limit']);
    expect(doc.components?.schemas?.CloudEvent).toBeDefined();
  });
});
