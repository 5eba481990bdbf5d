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
import { Problem } from '../contract/problem.js';
import { Allocation, CommitRequest, ExtendRequest, ReleaseRequest, Reservation, ReserveLine, ReserveRequest } from '../contract/reservation.js';

export { Allocation, Position, Problem, Reservation };
export { Channel, CommitRequest, ExtendRequest, LocationId, MAX_ATP_SKUS, MAX_HOLD_SECONDS, MAX_LINES, MAX_QTY, ReleaseRequest, ReserveLine, ReserveRequest, Sku, StoredText, UnitName };

export const IdempotencyHeaders = z.object({
  'idempotency-key': z
    .string({ error: 'required: a unique key per logical request' })
    .regex(/^[\x21-\x7E]{1,255}$/, '1–255 visible ASCII characters')
    .openapi({ param: { name: 'idempotency-key', in: 'header' }, example: 'order-1001-reserve' }),
});

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
