/** GET /v1/atp: available now per SKU (total, per location, and for a channel after its rules). */
import { createRoute, z } from '@hono/zod-openapi';
import { ValidationFailed } from '../../domain/errors.js';
import { kitAtp, unitView } from '../../services/catalog-atp.js';
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
      const { sku, channel, unit } = c.req.valid('query');
      if (channel) requireChannel(p, channel);
      else requireScope(p, 'oms');
      const { catalog } = deps;
      await catalog.fresh();
      if (unit) {
        const missing = sku.filter((s) => catalog.factor(s, unit) === undefined);
        if (missing.length > 0) throw new ValidationFailed([{ field: 'query.unit', reason: `no unit "${unit}" for ${missing.join(', ')}` }]);
      }
      // a kit's availability comes from its components
      const physical = new Set(sku.flatMap((s) => catalog.kitOf(s)?.map((c) => c.sku) ?? [s]));
      const rows = new Map((await getTimePhasedAtp(deps.database.db, [...physical], deps.rules.current(), channel, deps.clock)).map((r) => [r.sku, r]));
      const skus = sku.map((s) => {
        const kit = catalog.kitOf(s);
        const row = kit ? kitAtp(s, kit, rows) : rows.get(s)!;
        return unit ? { ...row, inUnit: unitView(row, unit, catalog.factor(s, unit)!) } : row;
      });
      return c.json({ skus }, 200);
    },
  );
}
