/**
 * What the HTTP layer adds to the contract: path, query and header parameters, the problem
 * document, and the helpers that put a schema in a route. Every request body and answer is
 * defined once in src/contract/ (plain zod, with the published bounds of contract/fields.ts) and
 * re-exported here for the routes; schemas made there (before @hono/zod-openapi extends zod) have
 * no `.openapi()`, so this layer decorates them with zod's own `.meta()`, which
 * @hono/zod-openapi reads like `.openapi()` (test/schema-import-order.test.ts).
 */
import { z } from '@hono/zod-openapi';
import { Position } from '../contract/atp.js';
import { Channel, LocationId, MAX_ATP_SKUS, MAX_HOLD_SECONDS, MAX_LINES, MAX_QTY, Sku, StoredText, UnitName } from '../contract/fields.js';
import { Allocation, CommitRequest, ExtendRequest, ReleaseRequest, Reservation, ReserveLine, ReserveRequest } from '../contract/reservation.js';

export { Allocation, Position, Reservation };
export { Channel, CommitRequest, ExtendRequest, LocationId, MAX_ATP_SKUS, MAX_HOLD_SECONDS, MAX_LINES, MAX_QTY, ReleaseRequest, ReserveLine, ReserveRequest, Sku, StoredText, UnitName };

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string({ error: 'required: a unique key per logical request' })
    .regex(/^[\x21-\x7E]{1,255}$/, '1–255 visible ASCII characters')
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, example: 'order-1001-reserve' }),
});

/**
 * RFC 9457 problem details plus `code`, and every extension member the service sends (each present
 * only with the codes named in its description). Closed: a new extension member is documented here.
 */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.string(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z
      .array(z.object({ field: z.string(), reason: z.string() }))
      .optional()
      .openapi({ description: 'validation-failed, malformed-json, idempotency-key-required, kit-holds-no-stock, unknown-location, hold-would-shorten: each bad field (`body.lines.0.qty`, `query.sku`, `header.Idempotency-Key` …) and why' }),
    lines: z
      .array(
        z.object({
          sku: z.string(),
          requested: z.number().int(),
          available: z.number().int().optional().openapi({ description: 'insufficient-stock, channel-limit: what this caller may have now' }),
          reason: z.enum(['insufficient-stock', 'protected', 'channel-cap', 'location-not-allowed']).optional(),
          location: z.string().optional(),
          line: z.number().int().optional().openapi({ description: 'index of the caller\'s line (`body.lines.<line>`)' }),
          components: z
            .array(
              z.object({
                sku: z.string(),
                requested: z.number().int(),
                available: z.number().int(),
                reason: z.enum(['insufficient-stock', 'protected', 'channel-cap', 'location-not-allowed']),
              }),
            )
            .optional()
            .openapi({ description: 'for a kit line (sku = the kit, requested/available in kits): the components that fall short, in base units' }),
          held: z.number().int().optional().openapi({ description: 'exceeds-held: what the reservation holds of this SKU (`kit/component` for a kit line)' }),
        }),
      )
      .optional()
      .openapi({ description: 'insufficient-stock, channel-limit, exceeds-held: the lines that could not be served' }),
    rulesVersion: z.number().int().optional().openapi({ description: 'channel-limit: the rules version that held the lines back' }),
    currentVersion: z.number().int().optional().openapi({ description: 'precondition-failed (PUT /v1/rules): the version in force' }),
    reservationStatus: z.string().optional().openapi({ description: 'invalid-state: the reservation status that refused the change' }),
    expiresAt: z.string().nullable().optional().openapi({ description: 'hold-would-shorten: when the hold ends now (null: it never expires)' }),
    allow: z.array(z.string()).optional().openapi({ description: 'method-not-allowed (405): the methods the path serves, as in the Allow header' }),
    supplyStatus: z.string().optional().openapi({ description: 'invalid-state: the supply status that refused the change' }),
    receivedQty: z.number().int().optional().openapi({ description: 'invalid-state (supply): units already received' }),
    remaining: z.number().int().optional().openapi({ description: 'over-receipt: units the supply still expects' }),
    sku: z.string().optional().openapi({ description: 'would-overcommit: the position' }),
    location: z.string().optional(),
    onHand: z.number().int().optional(),
    reserved: z.number().int().optional(),
    qualityHold: z.number().int().optional(),
    limit: z.string().optional().openapi({ description: 'rate-limited (429): the setting whose limit the key exceeded, e.g. ATP_READ_RATE_PER_KEY' }),
    perSecond: z.number().optional().openapi({ description: 'rate-limited: the limit, requests per second per key' }),
    burst: z.number().optional().openapi({ description: 'rate-limited: the burst the limit allows' }),
  })
  .openapi('Problem');

export const problemResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [code, { description: 'application/problem+json', content: { 'application/problem+json': { schema: Problem } } }]),
  );

// ---- inventory
export const PositionParams = z.object({
  sku: Sku.meta({ param: { name: 'sku', in: 'path' } }),
  location: LocationId.meta({ param: { name: 'location', in: 'path' } }),
});

// ---- ATP

export const AtpQuery = z.object({
  sku: z
    .union([Sku, z.array(Sku).min(1).max(MAX_ATP_SKUS)])
    .transform((v) => [...new Set(Array.isArray(v) ? v : [v])])
    .openapi({ param: { name: 'sku', in: 'query', style: 'form', explode: true }, description: 'repeat for several SKUs' }),
  channel: Channel.optional().openapi({ param: { name: 'channel', in: 'query' } }),
  unit: UnitName.optional().openapi({ param: { name: 'unit', in: 'query' }, description: 'also answer in this pack unit (inUnit: whole packs, rounded down)' }),
});

// ---- reservations
export const ReservationIdParams = z.object({
  id: z.uuid('must be a reservation id (uuid)').openapi({ param: { name: 'id', in: 'path' } }),
});

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  body: { required, content: { 'application/json': { schema } } },
});
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
