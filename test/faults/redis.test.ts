/**
 * Redis faults under reservation load. The service runs as a child process with REDIS_URL
 * pointing at a PRIVATE redis-server (append-only file, appendfsync always) that is SIGKILLed
 * and restarted mid-load, several times; the shared Redis is never touched.
 *
 * Proven:
 * - reservations continue while Redis is gone: every load request is answered (no 5xx, no
 *   deadline, no unexpected 4xx) and a reservation probe made during each outage is a 201 — under
 *   the last good rules: every 201 of the run carries the rules version set before the first
 *   outage, and a channel cap from those rules (maxUnits) is still enforced during the outage
 *   (a probe beyond it: 409 channel-limit); a rules change meanwhile is refused with 503 +
 *   Retry-After and changes nothing; `/readyz` is back to `ready` afterwards;
 * - the events written meanwhile wait in the outbox (the backlog is measured at each outage) and
 *   drain to the stream after the restart with nothing lost and nothing twice: every outbox row
 *   is published, and the stream is exactly the outbox in (txid, id) order, one entry per event
 *   under the entry id `<txid>-<id>` (Redis refuses a second XADD of an event, so a batch whose
 *   reply was lost to the SIGKILL cannot repeat: exactly once, deterministically);
 * - the usual invariants: every acknowledged 201 in the database once, nothing oversold, reserved
 *   == Σ allocations, ledger balanced; the rules in Redis are still the version set before.
 */
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { writeFigures } from './helpers/figures.js';
import { call, isProblem, type Outcome } from './helpers/http.js';
import { checkInvariants, violations } from './helpers/invariants.js';
import { type Acked, loadFigures, newStats, runLoad } from './helpers/load.js';
import { startPrivateRedis } from './helpers/private-redis.js';
import { rng, scale, SEED, sleep } from './helpers/scale.js';
import { seedStock } from './helpers/seed.js';
import { startService } from './helpers/service-process.js';

const SKUS = ['RD-A', 'RD-B', 'RD-C'];
const CAPPED = 'RD-CAP';
const CAP = 5;
/** the probes' own SKU, so the load cannot sell it out */
const PROBED = 'RD-P';
const LOCATIONS = ['DC1', 'DC2'];
const STREAM = 'atp:events:faults';
const DEADLINE_MS = 25_000;

const cleanup: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

const json = (o: Outcome) => (o.kind === 'response' ? (o.json as Record<string, unknown>) : undefined);

it('Redis killed and restarted mid-load: reservations go on under the last good rules, the event backlog drains with nothing lost', { timeout: scale(150_000, 900_000) }, async () => {
  const redis = await startPrivateRedis({ persist: true });
  cleanup.push(() => redis.destroy());
  const db = await createTestDatabase();
  cleanup.push(() => db.drop());
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  cleanup.push(() => sql.end());
  const svc = await startService('redis', {
    DATABASE_URL: db.url,
    REDIS_URL: redis.url,
    ATP_EVENTS_STREAM: STREAM,
    ATP_DB_POOL_MAX: '8',
    ATP_SWEEP_INTERVAL_MS: '500',
  });
  cleanup.push(() => svc.stop());
  const seeded = await seedStock(svc.url, [...SKUS, CAPPED, PROBED], LOCATIONS, 50_000);
  const retried: string[] = [];
  /** as a careful client: retry 429/503 (shedding, contention) with the same key; a 503 naming Redis is a failure */
  const post = async (path: string, key: string, body: unknown) => {
    for (let i = 0; ; i++) {
      const o = await call(svc.url + path, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body), deadlineMs: DEADLINE_MS });
      if (i >= 20 || o.kind !== 'response' || (o.status !== 503 && o.status !== 429) || /redis|rules|event|stream/i.test(String(json(o)?.code))) return o;
      retried.push(`${o.status} ${String(json(o)?.code)}`);
      await sleep(200);
    }
  };

  // the rules every reservation of the run must be made under: the outlet channel may hold at most CAP units of a SKU
  const put = await call(`${svc.url}/v1/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channels: { outlet: { maxUnits: CAP } } }), deadlineMs: DEADLINE_MS });
  expect(put.kind === 'response' && put.status, JSON.stringify(put)).toBe(200);
  const version = json(put)!.version as number;
  expect(version).toBeGreaterThan(0);
  const probeAcked: Acked[] = [];
  const fill = await post('/v1/reservations', 'cap-fill', { orderRef: 'cap-fill', channel: 'outlet', lines: [{ sku: CAPPED, qty: CAP }], holdSeconds: 3600 });
  expect(fill.kind === 'response' && fill.status, JSON.stringify(fill)).toBe(201);
  probeAcked.push({ key: 'cap-fill', body: json(fill) as unknown as Acked['body'] });

  const random = rng(SEED + 7);
  const stats = newStats();
  const flags = { stop: false, fault: false };
  const load = runLoad(
    {
      base: () => svc.url,
      clients: scale(12, 32),
      prefix: 'redis',
      skus: SKUS,
      channels: ['web', 'store'],
      random,
      deadlineMs: DEADLINE_MS,
      stopped: () => flags.stop,
      underFault: () => flags.fault,
      release: 0.2,
      commit: 0.1,
      replay: 0.1,
      giveUpMs: 90_000,
    },
    stats,
  );

  const OUTAGES = scale(2, 8);
  const unpublished = async () => (await sql<{ n: number }[]>`select count(*)::int as n from outbox o where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c)`)[0]!.n;
  const outages: { downMs: number; backlogAtRestart: number; drainAfterRestartMs: number; probes: Record<string, number>; readyz: string[] }[] = [];
  const wrong: string[] = [];
  for (let k = 0; k < OUTAGES; k++) {
    await sleep(1000 + random() * 1500);
    flags.fault = true;
    await redis.stop();
    const down = Date.now();
    const downUntil = down + 2000 + random() * 2000;
    const outage = { downMs: 0, backlogAtRestart: 0, drainAfterRestartMs: -1, probes: {} as Record<string, number>, readyz: [] as string[] };
    for (let n = 0; Date.now() < downUntil; n++) {
      // beyond the outlet's cap: refused by the rules in memory, not let through and not failed
      const capped = await post('/v1/reservations', `cap-${k}-${n}`, { orderRef: `cap-${k}-${n}`, channel: 'outlet', lines: [{ sku: CAPPED, qty: 1 }] });
      const label = (o: Outcome) => (o.kind === 'response' ? `${o.status} ${(json(o)?.code as string | undefined) ?? ''}`.trim() : o.kind);
      outage.probes[`outlet ${label(capped)}`] = (outage.probes[`outlet ${label(capped)}`] ?? 0) + 1;
      if (!(capped.kind === 'response' && capped.status === 409 && isProblem(capped) && json(capped)!.code === 'channel-limit'))
        wrong.push(`outage ${k}: outlet beyond its cap → ${capped.kind === 'response' ? `${capped.status} ${capped.text.slice(0, 300)}` : capped.kind}`);
      // an ordinary reservation: made, under the last good rules
      const key = `probe-${k}-${n}`;
      const ok = await post('/v1/reservations', key, { orderRef: key, channel: 'web', lines: [{ sku: PROBED, qty: 1 }], holdSeconds: 3600 });
      outage.probes[`web ${label(ok)}`] = (outage.probes[`web ${label(ok)}`] ?? 0) + 1;
      if (ok.kind === 'response' && ok.status === 201) probeAcked.push({ key, body: json(ok) as unknown as Acked['body'] });
      else wrong.push(`outage ${k}: reservation while Redis is down → ${ok.kind === 'response' ? `${ok.status} ${ok.text.slice(0, 300)}` : ok.kind}`);
      // a rules change cannot be made without the store: refused (503 + Retry-After), never a 500, nothing changed
      if (n === 0) {
        const change = await call(`${svc.url}/v1/rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channels: { outlet: { maxUnits: 1000 } } }), deadlineMs: DEADLINE_MS });
        outage.probes[`rules-put ${label(change)}`] = (outage.probes[`rules-put ${label(change)}`] ?? 0) + 1;
        if (!(change.kind === 'response' && change.status === 503 && isProblem(change) && change.headers.get('retry-after')))
          wrong.push(`outage ${k}: rules change while Redis is down → ${change.kind === 'response' ? `${change.status} ${change.text.slice(0, 300)}` : change.kind}`);
      }
      const ready = await call(`${svc.url}/readyz`, { deadlineMs: DEADLINE_MS });
      outage.readyz.push(ready.kind === 'response' ? `${ready.status} ${json(ready)?.status}` : ready.kind);
      await sleep(200);
    }
    outage.backlogAtRestart = await unpublished();
    const [{ last } = { last: 0 }] = await sql<{ last: number }[]>`select coalesce(max(id), 0)::int as last from outbox`;
    await redis.start();
    const up = Date.now();
    outage.downMs = up - down;
    // the backlog of the outage (every row written before the restart) drains while the load goes on
    while (Date.now() - up < 60_000) {
      const [{ n } = { n: 0 }] = await sql<{ n: number }[]>`select count(*)::int as n from outbox o where (o.txid, o.id) > (select c.txid, c.outbox_id from relay_cursor c) and o.id <= ${last}`;
      if (n === 0) {
        outage.drainAfterRestartMs = Date.now() - up;
        break;
      }
      await sleep(100);
    }
    outages.push(outage);
    flags.fault = false;
  }
  await sleep(1000);
  flags.stop = true;
  await load;

  // the backlog drains on its own (relay backoff ≤ 10 s)
  const drainStart = Date.now();
  let left = await unpublished();
  while (left > 0 && Date.now() - drainStart < 60_000) {
    await sleep(250);
    left = await unpublished();
  }
  const drainMs = Date.now() - drainStart;

  // the outbox as the relay saw it, then the stream (which only grows): every row the relay had
  // passed must be in it once. The service keeps running (its availability feed may write rows
  // after the drain): rows written later are checked by the drain above, not here.
  const rows = await sql<{ event_id: string; type: string; published: boolean; entry: string }[]>`
    select event_id::text, type, (txid, id) <= (select c.txid, c.outbox_id from relay_cursor c) as published, txid::text || '-' || id::text || ' ' || event_id::text as entry from outbox order by txid, id`;
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  cleanup.push(() => client.disconnect());
  await client.connect();
  const streamIds = new Map<string, number>();
  const streamEntries: string[] = [];
  let entries = 0;
  for (let from = '-'; ; ) {
    const batch = await client.xrange(STREAM, from, '+', 'COUNT', 5000);
    for (const [entryId, fields] of batch) {
      const i = fields.indexOf('id');
      const id = i >= 0 ? fields[i + 1]! : '(no id field)';
      streamIds.set(id, (streamIds.get(id) ?? 0) + 1);
      streamEntries.push(`${entryId} ${id}`);
      entries++;
    }
    if (batch.length < 5000) break;
    from = `(${batch[batch.length - 1]![0]}`;
  }
  const created = rows.filter((r) => r.type === 'reservation.created');
  const missing = rows.filter((r) => r.published && !streamIds.has(r.event_id));
  const createdDuplicated = created.filter((r) => (streamIds.get(r.event_id) ?? 0) > 1);
  const duplicatedEntries = [...streamIds.values()].reduce((a, n) => a + (n - 1), 0);
  const outboxIds = new Set((await sql<{ event_id: string }[]>`select event_id::text from outbox`).map((r) => r.event_id));
  const foreign = [...streamIds.keys()].filter((id) => !outboxIds.has(id));
  const rulesInRedis = Number(await client.hget('atp:rules', 'version'));
  const rulesServed = json(await call(`${svc.url}/v1/rules`, { deadlineMs: DEADLINE_MS }))?.version;
  // back to ready once the rules store is reachable again (its periodic re-read confirms the copy)
  let readyAfter = '';
  for (let i = 0; i < 50; i++) {
    const r = await call(`${svc.url}/readyz`, { deadlineMs: DEADLINE_MS });
    readyAfter = r.kind === 'response' ? `${r.status} ${json(r)?.status}` : r.kind;
    if (readyAfter === '200 ready') break;
    await sleep(200);
  }

  const acked = [...stats.acked.values(), ...probeAcked];
  const otherRules = acked.filter((a) => (a.body as unknown as { rulesVersion: number }).rulesVersion !== version);
  const inv = await checkInvariants(db.url, { acked, seeded });
  const backlogPeak = Math.max(...outages.map((o) => o.backlogAtRestart));
  const hygiene = {
    deadlines: stats.deadlines,
    serverErrors: stats.serverErrors,
    /** error answers that name Redis, the rules store or the events: a request failed because Redis was gone */
    redisRelated: Object.entries(stats.byCode).filter(([c]) => /redis|rules|event|stream/i.test(c)).map(([c, n]) => `${n} × ${c}`),
    missingRetryAfter: stats.missingRetryAfter,
    notProblem: stats.notProblem,
    unexpected4xx: stats.unexpected4xx,
    gaveUp: stats.gaveUp,
    replayMismatches: stats.replayMismatches,
    unexpectedExits: svc.unexpectedExits,
  };
  writeFigures('redis', {
    requestsUnderFault: stats.requestsUnderFault + outages.reduce((a, o) => a + Object.values(o.probes).reduce((x, y) => x + y, 0), 0),
    faultsInjected: { redis_sigkill_restart: OUTAGES },
    acknowledgedLost: inv.acknowledgedLost + inv.acknowledgedDiffer,
    unitsOversold: inv.unitsOversold,
    eventsLost: missing.length + createdDuplicated.length,
    rulesVersion: version,
    acknowledgedUnderOtherRules: otherRules.length,
    outages,
    events: {
      outboxRows: rows.length,
      reservationCreated: created.length,
      streamEntries: entries,
      unpublishedAfterDrain: left,
      missingFromStream: missing.length,
      reservationCreatedDuplicated: createdDuplicated.length,
      duplicatedEntries,
      foreignEntries: foreign.length,
      backlogPeak,
      drainMs,
    },
    rulesVersionInRedisAfter: rulesInRedis,
    rulesVersionServedAfter: rulesServed,
    readyAfter,
    probesRetried: retried,
    hygiene,
    load: loadFigures(stats),
    invariants: inv,
  });

  expect(stats.acked.size).toBeGreaterThan(0);
  expect(wrong).toEqual([]);
  expect(hygiene, stats.samples.join('\n')).toEqual({ deadlines: 0, serverErrors: 0, redisRelated: [], missingRetryAfter: 0, notProblem: 0, unexpected4xx: 0, gaveUp: 0, replayMismatches: 0, unexpectedExits: 0 });
  expect(otherRules.map((a) => a.key)).toEqual([]);
  // the outages were real: events piled up in the outbox while Redis was gone
  expect(backlogPeak).toBeGreaterThan(0);
  expect(left).toBe(0);
  expect(outages.map((o) => o.drainAfterRestartMs >= 0)).toEqual(outages.map(() => true));
  expect(missing.map((r) => `${r.type} ${r.event_id}`)).toEqual([]);
  expect(createdDuplicated.map((r) => r.event_id)).toEqual([]);
  expect(foreign).toEqual([]);
  // exactly once, in commit order: the stream is the outbox, entry for entry
  expect(duplicatedEntries).toBe(0);
  const published = rows.filter((r) => r.published);
  expect(published.length).toBeGreaterThan(0);
  expect(streamEntries.slice(0, published.length)).toEqual(published.map((r) => r.entry));
  expect(created.length).toBe(acked.length);
  expect(rulesInRedis).toBe(version);
  expect(rulesServed).toBe(version);
  expect(readyAfter).toBe('200 ready');
  expect(violations(inv), inv.details.join('\n')).toEqual({});
});
