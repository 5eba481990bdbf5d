/**
 * Operations endpoints: /healthz (process up), /readyz (can this instance serve: database
 * reachable and fully migrated, not draining; stale rules and, when a publisher runs, outbox lag
 * can only degrade it; the publisher is reported in its own informational check), /metrics
 * (Prometheus text; `metrics` or `admin` key) and /docs (interactive reference over /openapi.json,
 * its script served from the pinned npm package: see docs-page.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { query } from '../../db/client.js';
import { MIGRATIONS_DIR } from '../../db/migrate.js';
import type { OutboxRelay } from '../../events/relay.js';
import { requireScope } from '../auth.js';
import { DOCS_SCRIPT_PATH, docsPage, docsScript } from '../docs-page.js';
import type { AppDeps, Router } from '../context.js';
import { Readiness } from '../../contract/ops.js';
import { jsonResponse, problemResponses } from '../schemas.js';

interface JournalEntry {
  tag: string;
  when: number;
}
const journal = (): JournalEntry[] => (JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as { entries: JournalEntry[] }).entries;

const READY_DB_TIMEOUT_MS = 2000;

type Checks = Readiness['checks'];

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** The age of the oldest unpublished outbox row against ATP_READY_OUTBOX_LAG_S (only with a publisher). */
async function outboxCheck(deps: AppDeps): Promise<NonNullable<Checks['outbox']>> {
  try {
    const lag = await withTimeout(deps.telemetry.outboxLagSeconds(), READY_DB_TIMEOUT_MS);
    const max = deps.config.ATP_READY_OUTBOX_LAG_S;
    if (lag === undefined) return { ok: true, state: 'unknown', reason: 'no outbox lag source' };
    return lag > max
      ? { ok: true, state: 'lagging', reason: `oldest unpublished event is ${Math.round(lag)} s old (limit ${max} s)`, lagSeconds: lag }
      : { ok: true, state: 'ok', lagSeconds: lag };
  } catch (err) {
    return { ok: true, state: 'unknown', reason: `outbox lag check failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

/**
 * The relay (REDIS_URL set): a Redis outage does not make the service unready — events wait in the
 * outbox and drain when Redis is back; this says whether it publishes and how far behind it is.
 */
async function publisherCheck(relay: OutboxRelay): Promise<Checks['events']> {
  const status = relay.status();
  const state = status.failing ? 'failing' : status.running ? 'publishing' : 'stopped';
  try {
    const lag = await withTimeout(relay.lag(), READY_DB_TIMEOUT_MS);
    return { ok: true, state, ...status, ...lag, ...(status.failing ? { reason: `publishing to Redis fails: ${status.lastError}` } : {}) };
  } catch (err) {
    return { ok: true, state, ...status, reason: `relay lag check failed: ${(err as Error).message.split('\n')[0]}` };
  }
}

export function opsRoutes(app: Router, deps: AppDeps) {
  const expected = journal();

  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['operations'],
      summary: 'Liveness: the process is up and serving HTTP (no dependency is checked)',
      security: [],
      responses: { 200: jsonResponse(z.object({ status: z.literal('ok') }), 'alive') },
    }),
    (c) => c.json({ status: 'ok' as const }, 200),
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['operations'],
      summary: 'Readiness, with the reason for every check',
      description:
        '503 `not-ready` when Postgres cannot be reached, a migration in drizzle/ is not applied, or the instance is draining for shutdown. ' +
        '200 `degraded` when the rules are served from the last good copy, or when the event publisher (REDIS_URL set) lags behind the outbox by more than ATP_READY_OUTBOX_LAG_S; 200 `ready` otherwise. ' +
        'The `events` check reports the publisher and never fails readiness: `disabled` without REDIS_URL (events are read from GET /v1/events; there is no publisher lag, and no `outbox` check), else `publishing`, `failing` or `stopped` with the backlog.',
      security: [],
      responses: { 200: jsonResponse(Readiness, 'ready or degraded'), 503: jsonResponse(Readiness, 'not ready') },
    }),
    async (c) => {
      const lifecycle: Checks['lifecycle'] = deps.lifecycle.draining ? { ok: false, state: 'draining', reason: 'graceful shutdown in progress' } : { ok: true, state: 'serving' };
      let database: Checks['database'];

      try {
        const rows = await withTimeout(query<{ created_at: string }>(deps.database.db, sql`select created_at::text as created_at from drizzle.__drizzle_migrations`), READY_DB_TIMEOUT_MS);
        const applied = new Set(rows.map((r) => r.created_at));
        const missing = expected.filter((e) => !applied.has(String(e.when))).map((e) => e.tag);
        database = missing.length
          ? { ok: false, state: 'unmigrated', reason: `migrations not applied: ${missing.join(', ')}`, mode: deps.database.mode, migrationsApplied: applied.size, migrationsExpected: expected.length }
          : { ok: true, state: 'up', mode: deps.database.mode, migrationsApplied: applied.size, migrationsExpected: expected.length };
      } catch (err) {
        database = { ok: false, state: 'unreachable', mode: deps.database.mode, reason: `Postgres check failed: ${(err as Error).message.split('\n')[0]}` };
      }

      // Rules served from the last good copy while Redis is unreachable are degraded, not unready:
      // every instance keeps enforcing the version it has, by design. Only an instance that has
      // never loaded the rules (it would enforce the defaults) is not ready.
      const rules = deps.rules.status();
      const rulesCheck: Checks['rules'] = !rules.loaded
        ? { ok: false, ...rules, state: 'unloaded', reason: `rules never loaded from ${rules.source}${rules.detail ? `: ${rules.detail}` : ''}` }
        : rules.state === 'fresh'
          ? { ok: true, ...rules }
          : { ok: true, ...rules, reason: `rules store unreachable; serving version ${rules.version} confirmed ${Math.round(rules.ageSeconds)} s ago${rules.detail ? ` (${rules.detail})` : ''}` };

      // outbox lag is the publisher's lag: without one (no REDIS_URL) nothing is ever marked
      // published, consumers page GET /v1/events, and an old row is no reason to look unhealthy
      let outbox: Checks['outbox'];
      let events: Checks['events'];
      if (deps.relay) {
        outbox = await outboxCheck(deps);
        events = await publisherCheck(deps.relay);
      } else {
        events = { ok: true, state: 'disabled', reason: 'no publisher (REDIS_URL is not set): events are read from GET /v1/events' };
      }

      const all: Checks = { lifecycle, database, rules: rulesCheck, ...(outbox ? { outbox } : {}), events, allocator: { ok: true, state: 'ok', ...deps.allocator.depth } };
      const ready = Object.values(all).every((x) => x.ok);
      const degraded = all.rules.state !== 'fresh' || all.outbox?.state === 'lagging';
      const status = !ready ? 'not-ready' : degraded ? 'degraded' : 'ready';
      const answer: Readiness = { status, checks: all };
      return c.json(answer, ready ? 200 : 503);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['operations'],
      summary: 'Prometheus metrics (text exposition format); needs a `metrics` or `admin` key',
      responses: {
        200: { description: 'the metrics', content: { 'text/plain': { schema: z.string() } } },
        ...problemResponses(401, 403),
      },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'metrics');
      return c.text(await deps.telemetry.metricsText(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    },
  );

  const page = docsPage();
  app.get('/docs', (c) => c.html(page));
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/docs',
    tags: ['operations'],
    summary: 'Interactive API reference (Scalar) over /openapi.json; every asset it loads is served here',
    security: [],
    responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } },
  });
  app.get(DOCS_SCRIPT_PATH, async (c) => {
    const s = await docsScript();
    const headers: Record<string, string> = {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'public, max-age=86400',
      etag: s.etag,
      vary: 'Accept-Encoding',
    };
    if (c.req.header('if-none-match') === s.etag) return c.body(null, 304, headers);
    if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) return c.body(s.gzipped, 200, { ...headers, 'content-encoding': 'gzip' });
    return c.body(s.body, 200, headers);
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: DOCS_SCRIPT_PATH,
    tags: ['operations'],
    summary: 'The API reference UI script used by /docs (@scalar/api-reference standalone bundle, the version pinned in package.json)',
    security: [],
    responses: {
      200: { description: 'JavaScript (gzip when accepted)', content: { 'text/javascript': { schema: z.string() } } },
      304: { description: 'not modified (If-None-Match)' },
    },
  });
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['operations'],
    summary: 'This OpenAPI 3.1 document, generated from the zod schemas that validate requests',
    security: [],
    responses: { 200: { description: 'the document', content: { 'application/json': { schema: z.object({}).catchall(z.unknown()) } } } },
  });
}
