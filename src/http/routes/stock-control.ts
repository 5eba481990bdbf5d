/** GET /v1/consistency, GET /v1/replenishment, POST /v1/reconciliations. */
import { createRoute, z } from '@hono/zod-openapi';
import { fingerprint, runIdempotent } from '../../services/idempotency.js';
import { recordShortPick } from '../../services/stock/short-picks.js';
import { checkConsistency, reconcile, replenishment } from '../../services/stock/stock-control.js';
import { ConsistencyReport, ReconciliationRequest, ReconciliationResult, ReplenishmentLine } from '../../contract/stock.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { setResponseHeader } from '../headers.js';
import { IdempotencyHeaders, jsonBody, jsonResponse, LocationId, problemResponses, Sku } from '../schemas.js';

export function stockControlRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/consistency',
      tags: ['stock control'],
      summary: "Check the service's own invariants (reserved vs allocations, ledger vs onHand, supply vs backorders, channel holds) and list any breach",
      responses: { 200: jsonResponse(ConsistencyReport, 'the report; ok=false lists each breach'), ...problemResponses(401, 403, 503) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      return c.json(await checkConsistency(db, deps.clock), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/replenishment',
      tags: ['stock control'],
      summary: 'Positions to order now: projected stock (onHand + inbound − reserved − backorders) at or below the reorder point',
      request: {
        query: z.object({
          sku: Sku.optional().openapi({ param: { name: 'sku', in: 'query' } }),
          location: LocationId.optional().openapi({ param: { name: 'location', in: 'query' } }),
        }),
      },
      responses: { 200: jsonResponse(z.object({ lines: z.array(ReplenishmentLine) }), 'what needs ordering'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'oms');
      return c.json({ lines: await replenishment(db, c.req.valid('query')) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reconciliations',
      tags: ['stock control'],
      summary: "Compare a warehouse snapshot with onHand; with apply=true book the gaps as audited cycle counts",
      description:
        'Gaps where the warehouse counted fewer units than are reserved + quality-held are marked overCommitted; on apply they go through short-pick resolution: the count becomes onHand, quality holds are written off first, then the reservations stranded there are re-sourced from another allowed location, backordered against inbound supply, or marked short — lowest priority tier, then newest, first. A row for a kit SKU is refused (422 kit-holds-no-stock naming body.snapshot.i.sku): a kit holds no stock of its own.',
      request: { headers: IdempotencyHeaders, ...jsonBody(ReconciliationRequest) },
      responses: { 200: jsonResponse(ReconciliationResult, 'the parity gaps (and what was applied)'), ...problemResponses(400, 401, 403, 413, 415, 422, 503) },
    }),
    async (c) => {
      const p = c.get('principal');
      requireScope(p, 'admin');
      const body = c.req.valid('json');
      const key = { caller: p.id, key: c.req.valid('header')['idempotency-key'], fingerprint: fingerprint('POST', '/v1/reconciliations', body) };
      const r = await runIdempotent(
        db,
        key,
        200,
        (tx, at) =>
          reconcile(tx, body.snapshot, {
            at,
            apply: body.apply,
            complete: body.complete,
            reason: body.reason,
            actor: p.id,
            // a count below what is reserved goes through short-pick resolution (lowest tier, then newest, lose first)
            resolveShort: (t, g) => recordShortPick(t, g, deps.rules.current(), g.actor, at),
          }),
        deps.config.ATP_TX_RETRIES,
        deps.clock,
      );
      if (r.replayed) setResponseHeader(c, 'Idempotent-Replayed', 'true');
      return c.json(r.value, 200);
    },
  );
}
