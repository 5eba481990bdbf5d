/**
 * Inbound supply (POST /v1/supply, GET, PATCH = slip / qty change, cancel); the receipts are in
 * supply-receipts.ts.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { cancelSupply, createSupply, getSupply, listSupply, updateSupply } from '../../services/supply/supply.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { IdempotencyHeaders, jsonBody, jsonResponse, problemResponses } from '../schemas.js';
import { CancelSupply, CreateSupply, Supply, SupplyIdParams, SupplyListQuery, UpdateSupply } from '../supply-schemas.js';
import { supplyChangeResponses, supplyMutation } from './supply-mutation.js';

export function supplyRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;
  const mutate = supplyMutation(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/supply',
      tags: ['supply'],
      summary: 'Register inbound supply (a PO line or transfer) expected at a location',
      description:
        'Inbound supply is never on hand: it counts only in the time-phased ATP, in promises, and for backorders, until it is received. A location the service has never seen is created on first use with the default rank 100 (PUT /v1/locations/{id} sets it). A kit SKU cannot have supply of its own (422 kit-holds-no-stock naming body.sku).',
      request: { headers: IdempotencyHeaders, ...jsonBody(CreateSupply) },
      responses: { 201: jsonResponse(Supply, 'the supply'), ...problemResponses(400, 401, 403, 409, 422, 503) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      return mutate(c, 'POST', body, 201, (tx, actor, at) => createSupply(tx, { ...body, expectedAt: new Date(body.expectedAt) }, actor, at));
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/supply',
      tags: ['supply'],
      summary: 'List inbound supply (by SKU and expected date)',
      request: { query: SupplyListQuery },
      responses: { 200: jsonResponse(z.object({ supply: z.array(Supply) }), 'the supply'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'oms');
      return c.json({ supply: await listSupply(db, c.req.valid('query')) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/supply/{id}',
      tags: ['supply'],
      summary: 'Read one supply',
      request: { params: SupplyIdParams },
      responses: { 200: jsonResponse(Supply, 'the supply'), ...problemResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'oms');
      return c.json(await getSupply(db, c.req.valid('param').id), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/supply/{id}',
      tags: ['supply'],
      summary: 'Slip or advance the expected date, or change the quantity; backorders are re-promised',
      description:
        'A later date re-plans every backorder on this supply in promise order (an earlier source — stock on hand or earlier inbound — if the channel may use one, else this supply at its new date). A quantity cut below received + promised takes from the newest promises first; what nothing covers becomes short. Each affected reservation gets a change record and one event.',
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(UpdateSupply) },
      responses: supplyChangeResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      return mutate(c, 'PATCH', body, 200, (tx, actor, at) =>
        updateSupply(tx, id, { ...body, expectedAt: body.expectedAt ? new Date(body.expectedAt) : undefined }, deps.rules.current(), actor, at),
      );
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/supply/{id}/cancel',
      tags: ['supply'],
      summary: 'Cancel open supply; its backorders are re-sourced or become short',
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(CancelSupply, false) },
      responses: supplyChangeResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json') ?? {};
      return mutate(c, 'POST', body, 200, (tx, actor, at) => cancelSupply(tx, id, body, deps.rules.current(), actor, at));
    },
  );

}
