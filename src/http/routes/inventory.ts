/** PUT /v1/inventory/{sku}/{location} (cycle count), GET of a position, and locations. */
import { createRoute, z } from '@hono/zod-openapi';
import { inTransaction } from '../../db/tx.js';
import { NotFound } from '../../domain/errors.js';
import { loadPositions } from '../../reads/positions.js';
import { positionDto } from '../../reads/positions.js';
import { listLocations, putLocation, setPosition } from '../../services/stock/inventory.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { Location, LocationInput, SetPosition } from '../../contract/stock.js';
import { jsonBody, jsonResponse, LocationId, Position, PositionParams, problemResponses } from '../schemas.js';

export function inventoryRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/inventory/{sku}/{location}',
      tags: ['inventory'],
      summary: 'Set a position (cycle count); the onHand change is audited in the ledger',
      description: 'A location the service has never seen is created on first use with the default rank 100 (set it with PUT /v1/locations/{id}). A kit SKU holds no stock of its own (its availability comes from its components): a count of one is refused with 422 kit-holds-no-stock and changes nothing.',
      request: { params: PositionParams, ...jsonBody(SetPosition) },
      responses: { 200: jsonResponse(Position, 'the position after the count'), ...problemResponses(400, 401, 403, 409, 422, 503) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      const { sku, location } = c.req.valid('param');
      const body = c.req.valid('json');
      const dto = await inTransaction(db, (tx) => setPosition(tx, { sku, location, ...body }, c.get('principal').id, { clock: deps.clock }), deps.config.ATP_TX_RETRIES);
      return c.json(dto, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/inventory/{sku}/{location}',
      tags: ['inventory'],
      summary: 'Read one position',
      request: { params: PositionParams },
      responses: { 200: jsonResponse(Position, 'the position'), ...problemResponses(401, 403, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'oms');
      const { sku, location } = c.req.valid('param');
      const p = (await loadPositions(db, [sku])).find((x) => x.location === location);
      if (!p) throw new NotFound('position', `${sku}@${location}`);
      return c.json(positionDto(p), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/locations/{id}',
      tags: ['inventory'],
      summary: 'Create or update a location (rank: a line ships from the lowest-rank location that covers it, else from the fewest locations)',
      description:
        'Locations are also created on first use, with rank 100, by a count or an inbound supply that names them; this sets the name and rank (ahead of time, or later). Reservation and promise lines may pin only a location that exists (else 422 unknown-location).',
      request: { params: z.object({ id: LocationId.meta({ param: { name: 'id', in: 'path' } }) }), ...jsonBody(LocationInput) },
      responses: { 200: jsonResponse(Location, 'the location'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      return c.json(await putLocation(db, c.req.valid('param').id, c.req.valid('json'), deps.clock), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/locations',
      tags: ['inventory'],
      summary: 'List locations by rank',
      responses: { 200: jsonResponse(z.object({ locations: z.array(Location) }), 'the locations'), ...problemResponses(401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'read');
      return c.json({ locations: await listLocations(db) }, 200);
    },
  );
}
