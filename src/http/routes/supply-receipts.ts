/** Receipts of inbound supply (POST /v1/supply/{id}/receipts): onHand goes up, backorders are filled. */
import { createRoute } from '@hono/zod-openapi';
import { receiveSupply } from '../../services/supply/supply.js';
import type { AppDeps, Router } from '../context.js';
import { IdempotencyHeaders, jsonBody } from '../schemas.js';
import { ReceiptRequest, SupplyIdParams } from '../supply-schemas.js';
import { supplyChangeResponses, supplyMutation } from './supply-mutation.js';

export function receiptRoutes(app: Router, deps: AppDeps) {
  const mutate = supplyMutation(deps);

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/supply/{id}/receipts',
      tags: ['supply'],
      summary: 'Receive (part of) the supply: onHand goes up (ledger row); backorders are filled in promise order',
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(ReceiptRequest) },
      responses: supplyChangeResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      return mutate(c, 'POST', body, 200, (tx, actor, at) => receiveSupply(tx, id, body, actor, at));
    },
  );
}
