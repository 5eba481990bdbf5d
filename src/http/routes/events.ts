/**
 * GET /v1/events: the event feed from the outbox (CloudEvents 1.0), for consumers without Redis
 * and for the embedded default. Paging: pass the `next` of one page as `after` of the next; each
 * event appears once, in the stream's order (see src/events/feed.ts).
 * Scopes: admin and oms keys read every event; a channel key reads only the events about its own
 * channels: reservations of theirs (reservation.*, backorder.*, allocation.*) and their
 * availability.changed; inventory, supply and other SKU events are not channel data.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { CURSOR_RE, readEvents, START_CURSOR } from '../../events/feed.js';
import { EVENT_TYPES, EventsPage, isEventType } from '../../contract/events.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { jsonResponse, problemResponses } from '../schemas.js';

export const MAX_EVENTS_PAGE = 1000;
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

const EventsQuery = z.object({
  after: z
    .string()
    .regex(CURSOR_RE, 'a cursor returned as `next` (or an event\'s `atpseq`), e.g. 0.0')
    // in range of the columns it is compared with (txid xid8, id bigint): beyond them Postgres fails the query (a 500)
    // zod 4 runs this even when the pattern failed: a malformed cursor is the pattern's to report
    // (BigInt('abc') throws, and that used to surface as a 400 malformed-json about the body)
    .refine((c) => {
      const m = CURSOR_RE.exec(c);
      return !m || (BigInt(m[1]!) <= MAX_XID8 && BigInt(m[2]!) <= MAX_BIGINT);
    }, 'cursor out of range')
    .optional()
    .openapi({ param: { name: 'after', in: 'query' }, description: 'start after this cursor; omit to start at the oldest retained event', example: START_CURSOR }),
  type: z
    .string()
    .transform((v) => [...new Set(v.split(',').map((t) => t.trim()))])
    .refine((ts) => ts.every(isEventType), { message: `a comma-separated list of event types: ${EVENT_TYPES.join(', ')}` })
    .optional()
    .openapi({
      param: { name: 'type', in: 'query' },
      description: 'only events of these types (comma-separated), e.g. `availability.changed`; `next` still advances past the others',
      example: 'availability.changed',
    }),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1)
    .max(MAX_EVENTS_PAGE)
    .default(100)
    .openapi({ param: { name: 'limit', in: 'query' }, description: `events per page (1–${MAX_EVENTS_PAGE}, default 100)` }),
});

export function eventRoutes(app: Router, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/events',
      tags: ['events'],
      summary: 'Read the event feed (CloudEvents from the outbox), in commit-safe order',
      description:
        'Events come in the same order as on the Redis Stream: only transactions that every reader can already see, sorted by (transaction id, row id). Page with `after=<next>`; `type=` keeps only some types. Delivery is at least once overall (the same `id` can reach you by stream and by feed): dedupe on `id`. Channel keys see only events about their own channels: reservations of theirs (reservation.*, backorder.*, allocation.*) and availability.changed of theirs. Rows older than ATP_OUTBOX_RETENTION_HOURS are deleted.',
      request: { query: EventsQuery },
      responses: { 200: jsonResponse(EventsPage, 'one page of events'), ...problemResponses(400, 401, 403, 503) },
    }),
    async (c) => {
      const p = c.get('principal');
      requireScope(p, 'read'); // admin, oms or channel keys (a metrics-only key is refused)
      const { after, limit, type } = c.req.valid('query');
      const channels = p.admin || p.oms ? undefined : [...p.channels];
      return c.json(await readEvents(deps.database.db, { after, limit, channels, types: type }), 200);
    },
  );
}
