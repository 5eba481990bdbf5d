/**
 * Inbound supply (POST /v1/supply, GET, PATCH = slip / qty change, cancel, receipts), the
 * promise endpoint (POST /v1/promise, read-only) and a reservation's change history.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Tx } from '../../db/client.js';
import { getReservation } from '../../services/reservations/reservations.js';
import { fingerprint, runIdempotent } from '../../services/idempotency.js';
import { recordShortPick } from '../../services/stock/short-picks.js';
import { cancelSupply, createSupply, getSupply, listSupply, receiveSupply, reservationChanges, updateSupply } from '../../services/supply/supply.js';
import { requireChannel, requireScope, visibility } from '../auth.js';
import type { AppDeps, AppEnv, Router } from '../context.js';
import { setResponseHeader } from '../headers.js';
import { MAX_QTY, IdempotencyHeaders, jsonBody, jsonResponse, problemResponses, ReservationIdParams } from '../schemas.js';
import {
  CancelSupplyBody,
  CreateSupplyBody,
  PromiseBody,
  PromiseResult,
  ReceiptBody,
  ReservationChange,
  ShortPickBody,
  ShortPickResult,
  Supply,
  SupplyChange,
  SupplyIdParams,
  SupplyListQuery,
  UpdateSupplyBody,
} from '../supply-schemas.js';

const REPLAY_HEADER = 'Idempotent-Replayed';

export function supplyRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  /** admin, idempotent, one transaction; answers `status` (201 create, 200 the changes), a replay alike */
  const mutate = async <T, S extends 200 | 201>(c: Context<AppEnv>, method: string, body: unknown, status: S, run: (tx: Tx, actor: string, at: Date) => Promise<T>) => {
    const p = c.get('principal');
    requireScope(p, 'admin');
    const key = { caller: p.id, key: c.req.header('idempotency-key')!, fingerprint: fingerprint(method, c.req.path, body) };
    const r = await runIdempotent(db, key, status, (tx, at) => run(tx, p.id, at), deps.config.ATP_TX_RETRIES, deps.clock);
    if (r.replayed) setResponseHeader(c, REPLAY_HEADER, 'true');
    return c.json(r.value, status);
  };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/supply',
      tags: ['supply'],
      summary: 'Register inbound supply (a PO line or transfer) expected at a location',
      description:
        'Inbound supply is never on hand: it counts only in the time-phased ATP, in promises, and for backorders, until it is received. A location the service has never seen is created on first use with the default rank 100 (PUT /v1/locations/{id} sets it). A kit SKU cannot have supply of its own (422 kit-holds-no-stock naming body.sku).',
      request: { headers: IdempotencyHeaders, ...jsonBody(CreateSupplyBody) },
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

  const changeResponses = { 200: jsonResponse(SupplyChange, 'the supply after the change and every reservation it affected'), ...problemResponses(400, 401, 403, 404, 409, 422, 503) };

  app.openapi(
    createRoute({
      method: 'patch',
      path: '/v1/supply/{id}',
      tags: ['supply'],
      summary: 'Slip or advance the expected date, or change the quantity; backorders are re-promised',
      description:
        'A later date re-plans every backorder on this supply in promise order (an earlier source — stock on hand or earlier inbound — if the channel may use one, else this supply at its new date). A quantity cut below received + promised takes from the newest promises first; what nothing covers becomes short. Each affected reservation gets a change record and one event.',
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(UpdateSupplyBody) },
      responses: changeResponses,
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
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(CancelSupplyBody, false) },
      responses: changeResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json') ?? {};
      return mutate(c, 'POST', body, 200, (tx, actor, at) => cancelSupply(tx, id, body, deps.rules.current(), actor, at));
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/supply/{id}/receipts',
      tags: ['supply'],
      summary: 'Receive (part of) the supply: onHand goes up (ledger row); backorders are filled in promise order',
      request: { params: SupplyIdParams, headers: IdempotencyHeaders, ...jsonBody(ReceiptBody) },
      responses: changeResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      return mutate(c, 'POST', body, 200, (tx, actor, at) => receiveSupply(tx, id, body, actor, at));
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reservations/{id}/changes',
      tags: ['reservations'],
      summary: 'What happened to a reservation after it was made: backorders filled, re-promised, re-sourced, short — and why',
      request: { params: ReservationIdParams },
      responses: { 200: jsonResponse(z.object({ changes: z.array(ReservationChange) }), 'the changes, oldest first'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const p = c.get('principal');
      const { id } = c.req.valid('param');
      await getReservation(db, id, { visible: visibility(p) }); // 404 when not visible
      return c.json({ changes: await reservationChanges(db, id) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/promise',
      tags: ['availability'],
      summary: 'Earliest promise dates per line and for the whole order (read-only: nothing is reserved)',
      description:
        'Decided exactly as a backorder-allowed reservation of the same lines for the same channel would be allocated now: stock on hand in the locations the channel may use (one covering location first, by rank, else the fewest splits; a line may pin a location), then inbound supply by expected date. promisedAt is null with a reason when nothing on hand or planned covers the order; each line then also gets its own date. With shipComplete, every line carries the order date as shipAt. A line pinned to a location the service does not know is refused with 422 unknown-location naming body.lines.i.location. Answered from one database statement shared with the reads in flight (one snapshot, every write acknowledged before the request included); 429 as for GET /v1/atp.',
      request: { ...jsonBody(PromiseBody) },
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

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/short-picks',
      tags: ['inventory'],
      summary: 'Report a short pick: the found count is the truth; over-committed reservations are re-sourced, backordered or short',
      description:
        'onHand moves by foundQty − expectedQty (ledger row). If the position is then over-committed, quality-held units go first, then reservations lose their units there — the picked reservation first, then lowest priority tier, newest first — and each is re-planned: stock at another location the channel may use, else inbound supply with a promise date, else short. One event per affected reservation.',
      request: { headers: IdempotencyHeaders, ...jsonBody(ShortPickBody) },
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
