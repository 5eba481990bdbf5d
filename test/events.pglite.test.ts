/**
 * The event feed on the embedded default (PGlite: no Postgres server, no Redis): every change
 * is readable over GET /v1/events in order, with `next` cursors, and no relay is started; the
 * availability publisher's pass works there too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { CloudEvent, parseEventData } from '../src/contract/events.js';
import { createService } from '../src/service.js';
import { client } from './helpers/api.js';

const json = { 'content-type': 'application/json' };
let keyNo = 0;

it('works on embedded PGlite without Redis', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'atp-pglite-'));
  const local = await createService(loadConfig({ ATP_DATA_DIR: dir, LOG_LEVEL: 'silent' }), { sweeper: false });
  try {
    expect(local.database.mode).toBe('pglite');
    expect(local.relay).toBeUndefined();
    const call = (method: string, url: string, body?: unknown) =>
      client(local.app).raw(url, { method, headers: { ...json, 'idempotency-key': `k-${++keyNo}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    expect((await call('PUT', '/v1/inventory/L/DC1', { onHand: 3 })).status).toBe(200);
    const r = await call('POST', '/v1/reservations', { orderRef: 'x', channel: 'web', lines: [{ sku: 'L', qty: 3 }] });
    const { id } = (await r.json()) as { id: string };
    expect((await call('POST', `/v1/reservations/${id}/release`, {})).status).toBe(200);
    const events: CloudEvent[] = [];
    let after = '0.0';
    for (;;) {
      const res = await call('GET', `/v1/events?after=${after}&limit=2`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { events: CloudEvent[]; next: string };
      for (const e of page.events) parseEventData(e.type, CloudEvent.parse(e).data);
      if (page.events.length === 0) {
        expect(page.next).toBe(after);
        break;
      }
      events.push(...page.events);
      after = page.next;
    }
    expect(events.map((e) => e.type)).toEqual(['inventory.adjusted', 'reservation.created', 'sku.sold_out', 'reservation.released']);
    expect(events.filter((e) => e.subject === id).map((e) => e.type)).toEqual(['reservation.created', 'reservation.released']);

    // the availability feed runs there too: one pass, the figure of the default channel `*`
    expect(await local.availability.publishOnce()).toMatchObject({ full: true, emitted: 1 });
    const feed = (await (await call('GET', `/v1/events?type=availability.changed&after=${after}`)).json()) as { events: CloudEvent[] };
    expect(feed.events.map((e) => [e.subject, (e.data as { available: number }).available])).toEqual([['*/L', 3]]);
  } finally {
    await local.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000); // PGlite start and migrations take tens of seconds on a loaded 2-core machine
