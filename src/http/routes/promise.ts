/** The promise endpoint (POST /v1/promise, read-only: nothing is reserved), answered by the shared read (src/reads/). */
import { createRoute } from '@hono/zod-openapi';
import { requireChannel } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { jsonBody, jsonResponse, MAX_QTY, problemResponses } from '../schemas.js';
import { PromiseRequest, PromiseResult } from '../supply-schemas.js';

export function promiseRoutes(app: Router, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/promise',
      tags: ['availability'],
      summary: 'Earliest promise dates per line and for the whole order (read-only: nothing is reserved)',
      description:
        'Decided exactly as a backorder-allowed reservation of the same lines for the same channel would be allocated now: stock on hand in the locations the channel may use (one covering location first, by rank, else the fewest splits; a line may pin a location), then inbound supply by expected date. promisedAt is null with a reason when nothing on hand or planned covers the order; each line then also gets its own date. With shipComplete, every line carries the order date as shipAt. A line pinned to a location the service does not know is refused with 422 unknown-location naming body.lines.i.location. Answered from one database statement shared with the reads in flight (one snapshot, every write acknowledged before the request included); 429 as for GET /v1/atp.',
      request: { ...jsonBody(PromiseRequest) },
      responses: { 200: jsonResponse(PromiseResult, 'the promise'), ...problemResponses(400, 401, 403, 422, 429, 503) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const p = c.get('principal');
      requireChannel(p, body.channel);
      // kits are promised through their components, pack units in base units: kits, units and
      // pinned locations are read in the same statement as the stock
      return c.json(await deps.reads.promise(p.id, body, MAX_QTY), 200);
    },
  );
}
