/**
 * The operational answers (plain zod; types by z.infer): readiness (GET /readyz), every check
 * with its state. Built by src/http/routes/ops.ts; the `id` in `.meta()` names it in /openapi.json.
 */
import { z } from 'zod';

/** every check: ok (false makes the instance not ready), its state, and why when it is not plainly fine */
const check = <T extends z.ZodRawShape>(shape: T) => z.object({ ok: z.boolean(), state: z.string(), reason: z.string().optional(), ...shape });
export const Readiness = z
  .object({
    status: z.enum(['ready', 'degraded', 'not-ready']),
    checks: z.object({
      lifecycle: check({}).describe('serving, or draining for shutdown'),
      database: check({ mode: z.string(), migrationsApplied: z.number().int().optional(), migrationsExpected: z.number().int().optional() }).describe('up, unmigrated or unreachable'),
      rules: check({ source: z.string(), version: z.number().int(), ageSeconds: z.number(), loaded: z.boolean(), detail: z.string().optional() }).describe('fresh, degraded (last good copy) or unloaded'),
      outbox: check({ lagSeconds: z.number().optional() })
        .optional()
        .describe('only with REDIS_URL (a publisher): ok, lagging (degraded) or unknown'),
      events: check({
        running: z.boolean().optional(),
        redis: z.string().optional(),
        failing: z.boolean().optional(),
        lastError: z.string().nullable().optional(),
        published: z.number().int().optional(),
        alreadyPresent: z.number().int().optional().describe('of those, rows Redis refused as already present (a pass whose reply was lost)'),
        resumed: z.number().int().optional().describe('rows marked unpublished again because the stream had lost them'),
        streamLost: z.number().int().optional().describe('reconnects that found the stream missing or empty although events had been published to it (Redis restarted without persistence, or a new ATP_EVENTS_STREAM): consumers may have missed events; GET /v1/events serves them within the outbox retention'),
        lastPublishedAt: z.string().nullable().optional(),
        passes: z.number().int().optional(),
        unpublished: z.number().int().optional(),
        oldestAgeSeconds: z.number().optional(),
      }).describe('the publisher, informational (never fails readiness): `disabled` without REDIS_URL (only ok, state, reason); with it the outbox relay to the Redis Stream, publishing, failing or stopped, with every other member'),
      allocator: check({
        queued: z.number().int(),
        running: z.number().int(),
        lanes: z.number().int(),
        shed: z.number().int(),
        soldOutHits: z.number().int(),
        soldOutSkus: z.number().int(),
      }),
    }),
  })
  .meta({ id: 'Readiness' });

export type Readiness = z.infer<typeof Readiness>;
