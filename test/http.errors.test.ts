/**
 * The HTTP contract's error paths: every refusal is RFC 9457 problem+json with a stable `code`
 * (and `type` ending in it), names the field and the reason, and writes nothing. Plus the API
 * smoke scenario on Postgres (the PGlite run is in embedded.smoke.test.ts).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { expectInvariants, type Reply } from './helpers/api.js';
import { serviceFixture } from './helpers/service.js';
import { apiSmoke } from './helpers/smoke.js';

const t = serviceFixture({ ATP_MAX_BODY_BYTES: '65536' });

function expectProblem(r: Reply, status: number, code: string, field?: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.body).toMatchObject({ status, code, title: expect.any(String) });
  expect(r.body.type).toMatch(new RegExp(`${code}$`));
  if (field) expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

async function tableCounts() {
  const [row] = await t.sql`select
    (select count(*) from reservations)::int as reservations, (select count(*) from allocations)::int as allocations,
    (select count(*) from ledger)::int as ledger, (select count(*) from outbox)::int as outbox,
    (select count(*) from idempotency_keys)::int as keys, (select coalesce(sum(reserved), 0) from positions)::int as reserved`;
  return row;
}

it('passes the API smoke scenario on Postgres', async () => {
  await apiSmoke(t.api, 'pg');
  await expectInvariants(t.db.url, 'pg-');
});

describe('refusals name the field and write nothing', () => {
  const good = { orderRef: 'e1', channel: 'web', lines: [{ sku: 'ERR', qty: 1 }] };
  let before: Awaited<ReturnType<typeof tableCounts>>;

  beforeAll(async () => {
    expect((await t.api.setStock('ERR', 'DC1', 5)).status).toBe(200);
    before = await tableCounts();
  });

  it.each([
    ['qty 0', { ...good, lines: [{ sku: 'ERR', qty: 0 }] }, 'body.lines.0.qty'],
    ['negative qty', { ...good, lines: [{ sku: 'ERR', qty: -3 }] }, 'body.lines.0.qty'],
    ['fractional qty', { ...good, lines: [{ sku: 'ERR', qty: 1.5 }] }, 'body.lines.0.qty'],
    ['qty as string', { ...good, lines: [{ sku: 'ERR', qty: '1' }] }, 'body.lines.0.qty'],
    ['absurd qty', { ...good, lines: [{ sku: 'ERR', qty: 1e12 }] }, 'body.lines.0.qty'],
    ['no lines', { ...good, lines: [] }, 'body.lines'],
    ['too many lines', { ...good, lines: Array.from({ length: 201 }, () => ({ sku: 'ERR', qty: 1 })) }, 'body.lines'],
    ['unknown field', { ...good, priority: 'high' }, 'body'],
    ['missing channel', { orderRef: 'e1', lines: good.lines }, 'body.channel'],
    ['long sku', { ...good, lines: [{ sku: 'S'.repeat(500), qty: 1 }] }, 'body.lines.0.sku'],
    ['holdSeconds 0', { ...good, holdSeconds: 0 }, 'body.holdSeconds'],
    ['orderRef too long', { ...good, orderRef: 'o'.repeat(1000) }, 'body.orderRef'],
  ])('%s → 400 validation-failed', async (_name, body, field) => {
    expectProblem(await t.api.reserve(body as Record<string, unknown>), 400, 'validation-failed', field);
  });

  it('malformed JSON → 400', async () => {
    const r = await t.api.call('POST', '/v1/reservations', '{"orderRef": "x", "lines": [', { 'idempotency-key': 'bad-json' });
    expectProblem(r, 400, 'malformed-json', 'body');
  });

  it('a body that is not JSON → 415', async () => {
    const r = await t.api.call('POST', '/v1/reservations', 'orderRef=x', { 'idempotency-key': 'form', 'content-type': 'application/x-www-form-urlencoded' });
    expectProblem(r, 415, 'unsupported-media-type');
    // no Content-Type at all is the same refusal
    const none = await t.api.raw('/v1/reservations', { method: 'POST', headers: { 'idempotency-key': 'form-none' }, body: JSON.stringify(good) });
    expect(none.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await none.json()).toMatchObject({ status: 415, code: 'unsupported-media-type' });
  });

  it('an oversized body → 413', async () => {
    const r = await t.api.call('POST', '/v1/reservations', JSON.stringify({ ...good, orderRef: 'x'.repeat(70_000) }), { 'idempotency-key': 'big' });
    expectProblem(r, 413, 'payload-too-large');
  });

  it('no Idempotency-Key → 400 naming the header', async () => {
    const r = await t.api.call('POST', '/v1/reservations', good);
    expectProblem(r, 400, 'idempotency-key-required');
    expect(r.body.errors).toEqual([{ field: 'header.Idempotency-Key', reason: expect.any(String) }]);
  });

  it('a bad inventory count → 400 naming the field', async () => {
    expectProblem(await t.api.call('PUT', '/v1/inventory/ERR/DC1', { onHand: -1 }), 400, 'validation-failed', 'body.onHand');
    expectProblem(await t.api.call('PUT', '/v1/inventory/ERR/DC1', { onHand: 2.5 }), 400, 'validation-failed', 'body.onHand');
  });

  it('ATP without a sku → 400; with too many → 400', async () => {
    expectProblem(await t.api.call('GET', '/v1/atp'), 400, 'validation-failed');
    const many = Array.from({ length: 101 }, (_, i) => `sku=S${i}`).join('&');
    expectProblem(await t.api.call('GET', `/v1/atp?${many}`), 400, 'validation-failed');
  });

  it('insufficient stock → 409 naming each short line with what is available', async () => {
    const r = await t.api.reserve({ ...good, lines: [{ sku: 'ERR', qty: 6 }, { sku: 'NOPE', qty: 1 }] });
    expectProblem(r, 409, 'insufficient-stock');
    expect(r.body.lines).toEqual(
      expect.arrayContaining([expect.objectContaining({ sku: 'ERR', requested: 6, available: 5 }), expect.objectContaining({ sku: 'NOPE', requested: 1, available: 0 })]),
    );
  });

  it('unknown reservation → 404; malformed id → 400', async () => {
    expectProblem(await t.api.get('4b1d7c1e-0000-4000-8000-000000000001'), 404, 'not-found');
    expectProblem(await t.api.release('4b1d7c1e-0000-4000-8000-000000000001'), 404, 'not-found');
    expectProblem(await t.api.get('not-a-uuid'), 400, 'validation-failed', 'param.id');
  });

  it('unknown route → 404 problem', async () => {
    expectProblem(await t.api.call('GET', '/v1/nothing-here'), 404, 'not-found');
  });

  it('nothing above was written', async () => {
    expect(await tableCounts()).toEqual(before);
  });
});

describe('wrong state transitions → 409', () => {
  it('commit after release, extend after commit, partial release beyond what is held', async () => {
    expect((await t.api.setStock('ST', 'DC1', 10)).status).toBe(200);
    const a = await t.api.reserve({ orderRef: 'st1', channel: 'web', lines: [{ sku: 'ST', qty: 2 }] });
    expectProblem(await t.api.release(a.body.id, { lines: [{ sku: 'ST', qty: 3 }] }), 409, 'exceeds-held');
    expect((await t.api.release(a.body.id)).status).toBe(200);
    expectProblem(await t.api.commit(a.body.id), 409, 'invalid-state');
    expectProblem(await t.api.extend(a.body.id, 60), 409, 'invalid-state');
    const b = await t.api.reserve({ orderRef: 'st2', channel: 'web', lines: [{ sku: 'ST', qty: 2 }] });
    expect((await t.api.commit(b.body.id)).status).toBe(200);
    expectProblem(await t.api.extend(b.body.id, 60), 409, 'invalid-state');
    expectProblem(await t.api.commit(b.body.id, { lines: [{ sku: 'ST', qty: 1 }] }), 409, 'invalid-state');
    expectProblem(await t.api.setStock('ST', 'DC1', 1, { qualityHold: 5 }), 409, 'would-overcommit');
    await expectInvariants(t.db.url, 'ST');
  });
});

describe('supply dates out of range', () => {
  it('a far-future or far-past expectedAt is a 400 naming the field, never a 500', async () => {
    for (const expectedAt of ['9999-12-31T23:59:59-12:00', '0001-01-01T00:00:00Z']) {
      const r = await t.api.call('POST', '/v1/supply', { sku: 'ERR', location: 'DC1', qty: 5, expectedAt }, { 'idempotency-key': `far-${expectedAt}` });
      expectProblem(r, 400, 'validation-failed', 'body.expectedAt');
    }
  });
});
