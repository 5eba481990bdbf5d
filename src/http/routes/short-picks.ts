/** Short picks (POST /v1/short-picks): the found count is the truth; stranded reservations are re-planned. */
import { createRoute } from '@hono/zod-openapi';
import { fingerprint, runIdempotent } from '../../services/idempotency.js';
import { recordShortPick } from '../../services/stock/short-picks.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { setResponseHeader } from '../headers.js';
import { IdempotencyHeaders, jsonBody, jsonResponse, problemResponses } from '../schemas.js';
import { ShortPickRequest, ShortPickResult } from '../supply-schemas.js';

const REPLAY_HEADER = 'Idempotent-Replayed';

export function shortPickRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/short-picks',
      tags: ['inventory'],
      summary: 'Report a short pick: the found count is the truth; over-committed reservations are re-sourced, backordered or short',
      description:
        'onHand moves by foundQty − expectedQty (ledger row). If the position is then over-committed, quality-held units go first, then reservations lose their units there — the picked reservation first, then lowest priority tier, newest first — and each is re-planned: stock at another location the channel may use, else inbound supply with a promise date, else short. One event per affected reservation.',
      request: { headers: IdempotencyHeaders, ...jsonBody(ShortPickRequest) },
      responses: { 201: jsonResponse(ShortPickResult, 'what was done'), ...problemResponses(400, 401, 403, 404, 409, 422, 503) },
    }),
    async (c) => {
      const p = c.get('principal');
      requireScope(p, 'oms');
      const body = c.req.valid('json');
      const key = { caller: p.id, key: c.req.valid('header')['idempotency-key'], fingerprint: fingerprint('POST', c.req.path, body) };
      const r = await runIdempotent(db, key, 201, (tx, at) => recordShortPick(tx, body, deps.rules.current(), p.id, at), deps.config.ATP_TX_RETRIES, deps.clock);
      if (r.replayed) setResponseHeader(c, REPLAY_HEADER, 'true');
      return c.json(r.value, 201);
    },
  );
}
