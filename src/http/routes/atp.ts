/** GET /v1/atp: available now per SKU (total, per location, and for a channel after its rules). */
import { createRoute, z } from '@hono/zod-openapi';
import { getTimePhasedAtp } from '../../services/promise.js';
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
      request: { query: AtpQuery },
      responses: { 200: jsonResponse(z.object({ skus: z.array(TimePhasedAtpSku) }), 'per SKU'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      const p = c.get('principal');
      const { sku, channel } = c.req.valid('query');
      if (channel) requireChannel(p, channel);
      else requireScope(p, 'oms');
      const skus = await getTimePhasedAtp(deps.database.db, sku, deps.rules.current(), channel);
      return c.json({ skus }, 200);
    },
  );
}
