/** GET /v1/atp: available now per SKU (total, per location, and for a channel after its rules). */
import { createRoute, z } from '@hono/zod-openapi';
import { requireChannel, requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { AtpQuery, jsonResponse, problemResponses } from '../schemas.js';
import { TimePhasedAtpSku } from '../supply-schemas.js';

export function atpRoutes(app: Router, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/atp',
      tags: ['availability'],
      summary: 'Available to promise, per SKU: now, and cumulative by date from inbound supply',
      description:
        'Answered from one database statement shared with the reads in flight (one snapshot): a count, receipt, reservation, release, rules, kit or unit change acknowledged before the request (on any instance) is in the answer. 429 overloaded + Retry-After when the read queue is full; 429 rate-limited (naming the limit) when the key exceeds ATP_READ_RATE_PER_KEY.',
      request: { query: AtpQuery },
      responses: { 200: jsonResponse(z.object({ skus: z.array(TimePhasedAtpSku) }), 'per SKU'), ...problemResponses(400, 401, 403, 429, 503) },
    }),
    async (c) => {
      const p = c.get('principal');
      const { sku, channel, unit } = c.req.valid('query');
      if (channel) requireChannel(p, channel);
      else requireScope(p, 'oms');
      // a kit's availability comes from its components; kits and units are read in the same statement
      return c.json({ skus: await deps.reads.atp(p.id, { skus: sku, channel, unit }) }, 200);
    },
  );
}
