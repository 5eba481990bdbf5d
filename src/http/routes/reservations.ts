/** POST /v1/reservations and the verbs on a reservation (get, release, commit, extend). */
import { createRoute } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Tx } from '../../db/client.js';
import { inCallerTerms } from '../../domain/caller-lines.js';
import { fingerprint, runIdempotent } from '../../services/idempotency.js';
import { refuseUnknownLocations } from '../../services/stock/locations.js';
import type { ReservationDto } from '../../services/reservations/dto.js';
import { commitReservation, extendReservation, getReservation, releaseReservation, type ToBase, type VerbContext } from '../../services/reservations/reservations.js';
import { requireChannel, requireScope, visibility } from '../auth.js';
import { sendJsonText, setResponseHeader } from '../headers.js';
import type { AppDeps, AppEnv, Router } from '../context.js';
import {
  MAX_QTY,
  CommitRequest,
  ExtendRequest,
  IdempotencyHeaders,
  jsonBody,
  jsonResponse,
  problemResponses,
  ReleaseRequest,
  Reservation,
  ReservationIdParams,
  ReserveRequest,
} from '../schemas.js';

const REPLAY_HEADER = 'Idempotent-Replayed';

export function reservationRoutes(app: Router, deps: AppDeps) {
  const { db } = deps.database;

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reservations',
      tags: ['reservations'],
      summary: 'Reserve stock for an order: all lines or nothing',
      description:
        'Lines for the same SKU are summed. Each line is allocated from the locations the channel may use (one location covering the line first, by rank; else the fewest splits). With allowBackorder, what is not on hand is allocated against inbound supply. 409 insufficient-stock or channel-limit lists what is available per line the caller wrote (lines[].line is its index in body.lines; a line pinned to a location: what is available there; a kit line is named as the kit, requested/available in kits, with the short components in lines[].components). A line pinned to a location the service does not know is refused with 422 unknown-location naming body.lines.i.location.',
      request: { headers: IdempotencyHeaders, ...jsonBody(ReserveRequest) },
      responses: { 201: jsonResponse(Reservation, 'reserved (or the replay of the first answer for this Idempotency-Key)'), ...problemResponses(400, 401, 403, 409, 413, 415, 422, 429, 503) },
    }),
    async (c) => {
      const p = c.get('principal');
      const body = c.req.valid('json');
      requireChannel(p, body.channel);
      // kits become their components and pack units become base units before allocation
      await deps.catalog.fresh();
      const lines = deps.catalog.expand(body.lines, 'body.lines', MAX_QTY);
      await refuseUnknownLocations(db, body.lines, 'body.lines');
      const cmd = {
        caller: p.id,
        idempotencyKey: c.req.valid('header')['idempotency-key'],
        fingerprint: fingerprint('POST', '/v1/reservations', body),
        ...body,
        lines,
      };
      // a sold-out refusal from memory only after the shared read confirmed it (src/reads/reader.ts)
      const r = await deps.telemetry.reserve(cmd, () => deps.reads.soldOutChecked(deps.allocator.soldOut, cmd, () => deps.allocator.reserve(cmd)));
      // a refusal names the lines as the caller wrote them (a kit line as the kit, in kits)
      if (!r.ok) throw inCallerTerms(r.error, lines);
      if (r.result.replayed) setResponseHeader(c, REPLAY_HEADER, 'true');
      setResponseHeader(c, 'Location', `/v1/reservations/${r.result.reservation.id}`);
      // the stored first answer's bytes: serialised once, in the batch (a replay sends the same bytes)
      return sendJsonText(c, r.result.json, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/reservations/{id}',
      tags: ['reservations'],
      summary: 'Read a reservation',
      request: { params: ReservationIdParams },
      responses: { 200: jsonResponse(Reservation, 'the reservation'), ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const p = c.get('principal');
      return c.json(await getReservation(db, c.req.valid('param').id, { visible: visibility(p) }), 200);
    },
  );

  /**
   * The shared shape of release / commit / extend: idempotent, one transaction. Commit and extend
   * need an oms (or admin) key; release (`ownChannel`) also takes a channel key, for reservations
   * of its own channel only (another channel's, like an unknown id, is 403, checked under the
   * reservation's lock).
   */
  const verb = async (c: Context<AppEnv>, id: string, body: unknown, run: (tx: Tx, ctx: VerbContext) => Promise<ReservationDto>, ownChannel = false) => {
    const p = c.get('principal');
    const asChannel = ownChannel && !p.oms && !p.admin && p.channels.size > 0;
    if (!asChannel) requireScope(p, 'oms');
    const ctx: Omit<VerbContext, 'at'> = asChannel ? { actor: p.id, mayChange: (channel) => p.channels.has(channel) } : { actor: p.id, visible: visibility(p) };
    const key = { caller: p.id, key: c.req.header('idempotency-key')!, fingerprint: fingerprint('POST', c.req.path, body) };
    const r = await runIdempotent(db, key, 200, (tx, at) => run(tx, { ...ctx, at }), deps.config.ATP_TX_RETRIES, deps.clock);
    if (r.replayed) setResponseHeader(c, REPLAY_HEADER, 'true');
    return c.json(r.value, 200);
  };

  /**
   * Release/commit quantities in base units, converted inside the verb's transaction with the unit
   * factor stored on the reservation's line (today's catalog only for a unit the order did not use);
   * a kit is resolved later, by the reservation's own composition.
   */
  const baseLines = async (lines: { sku: string; qty: number; unit?: string | undefined }[] | undefined): Promise<ToBase | undefined> => {
    if (!lines) return undefined;
    await deps.catalog.fresh();
    return (stored) => deps.catalog.baseQuantities(lines, 'body.lines', MAX_QTY, stored);
  };

  const verbResponses = { 200: jsonResponse(Reservation, 'the reservation after the change'), ...problemResponses(400, 401, 403, 404, 409, 422, 503) };

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reservations/{id}/release',
      tags: ['reservations'],
      summary: 'Release all, or the given quantities per SKU; releasing what is already released is a no-op',
      description:
        'Needs an oms key, or the key of the reservation\'s own channel (an abandoned cart): a channel key gets 403 for another channel\'s reservation, and alike for an unknown id. ' +
        'Releasing a released or expired reservation in full answers 200 and changes nothing; a committed reservation (shipped) answers 409 invalid-state with its `reservationStatus`. ' +
        'Once a line holds nothing its status says where its units went: `released` or `committed`.',
      request: { params: ReservationIdParams, headers: IdempotencyHeaders, ...jsonBody(ReleaseRequest, false) },
      responses: verbResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const lines = await baseLines(body.lines);
      return verb(c, id, body, (tx, ctx) => releaseReservation(tx, id, lines, ctx), true);
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reservations/{id}/commit',
      tags: ['reservations'],
      summary: 'Shipped: onHand and reserved both go down (all on-hand allocations, or the given quantities)',
      request: { params: ReservationIdParams, headers: IdempotencyHeaders, ...jsonBody(CommitRequest, false) },
      responses: verbResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const lines = await baseLines(body.lines);
      return verb(c, id, body, (tx, ctx) => commitReservation(tx, id, lines, ctx));
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/v1/reservations/{id}/extend',
      tags: ['reservations'],
      summary: 'Extend a hold: it now expires holdSeconds from now',
      description:
        'Never shortens a hold: when holdSeconds from now is earlier than the current expiresAt, or the hold has no expiry (reserved without holdSeconds), ' +
        'the answer is 409 hold-would-shorten naming body.holdSeconds, with the current expiresAt, and nothing changes. Needs an oms key.',
      request: { params: ReservationIdParams, headers: IdempotencyHeaders, ...jsonBody(ExtendRequest) },
      responses: verbResponses,
    }),
    async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      return verb(c, id, body, (tx, ctx) => extendReservation(tx, id, body.holdSeconds, ctx));
    },
  );
}
