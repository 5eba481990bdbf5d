/**
 * Request and response schemas: the same zod objects validate requests and generate the
 * OpenAPI document (/openapi.json). Limits here are the service's published bounds. Shapes the
 * events share (Position, Reservation) are defined once in src/contract/ and re-exported here;
 * schemas made there (plain zod, before @hono/zod-openapi extends zod) carry OpenAPI metadata
 * through zod's own `.meta()`, which @hono/zod-openapi reads like `.openapi()`.
 */
import { z } from '@hono/zod-openapi';
import { Position } from '../contract/atp.js';
import { Allocation, Reservation } from '../contract/reservation.js';
import { ChannelName, NAME_RE } from '../contract/rules.js';

export { Allocation, Position, Reservation };

export const MAX_QTY = 1_000_000;
export const MAX_LINES = 200;
export const MAX_HOLD_SECONDS = 7 * 24 * 3600;
export const MAX_ATP_SKUS = 100;

/**
 * Free text the service stores (orderRef, reasons, names): any Unicode except what Postgres text
 * and jsonb cannot hold — NUL (U+0000) and unpaired UTF-16 surrogates. Those are refused as bad
 * input (400) instead of failing inside the database (a 500).
 */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
export const StoredText = (max: number) =>
  z.string().min(1).max(max).refine((s) => !UNSTORABLE.test(s), 'must not contain NUL characters or unpaired surrogates');

export const Sku = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:\-]*$/, 'letters, digits, . _ : - (starting with a letter or digit)')
  .openapi({ example: 'SKU-1' });
export const LocationId = z.string().regex(NAME_RE, 'letters, digits, . _ : - ; at most 64 characters').openapi({ example: 'DC1' });
export const Qty = z.number().int('must be a whole number of base units').min(1, 'must be at least 1').max(MAX_QTY, `must be at most ${MAX_QTY}`);
const Count = z.number().int('must be a whole number of base units').min(0, 'must not be negative').max(1_000_000_000, 'must be at most 1000000000');
export const Channel = ChannelName.meta({ example: 'web' });

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
  sku: Sku.openapi({ param: { name: 'sku', in: 'path' } }),
  location: LocationId.openapi({ param: { name: 'location', in: 'path' } }),
});

export const SetPositionBody = z
  .object({
    onHand: Count,
    qualityHold: Count.optional(),
    safetyStock: Count.optional(),
    reorderPoint: Count.nullable().optional().openapi({ description: 'replenishment: order when projected stock (onHand + inbound − reserved − backorders) is at or below this; null clears it' }),
    reorderQty: Qty.nullable().optional().openapi({ description: 'replenishment: the lot size to order' }),
    reason: StoredText(200).optional(),
  })
  .strict()
  .openapi('SetPosition');

export const LocationBody = z
  .object({ name: StoredText(200).optional(), rank: z.number().int().min(0).max(1_000_000).optional() })
  .strict()
  .openapi('LocationInput');
export const Location = z.object({ id: z.string(), name: z.string().nullable(), rank: z.number().int() }).openapi('Location');

// ---- ATP
export const UnitName = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, _ or -; at most 32 characters').openapi({ example: 'case' });

export const AtpQuery = z.object({
  sku: z
    .union([Sku, z.array(Sku).min(1).max(MAX_ATP_SKUS)])
    .transform((v) => [...new Set(Array.isArray(v) ? v : [v])])
    .openapi({ param: { name: 'sku', in: 'query', style: 'form', explode: true }, description: 'repeat for several SKUs' }),
  channel: Channel.optional().openapi({ param: { name: 'channel', in: 'query' } }),
  unit: UnitName.optional().openapi({ param: { name: 'unit', in: 'query' }, description: 'also answer in this pack unit (inUnit: whole packs, rounded down)' }),
});

// ---- reservations
/** A quantity in `unit` (default: the base unit, where it must be whole); converted to base units by the catalog. */
const UnitQty = z.number().positive('must be more than 0').max(MAX_QTY, `must be at most ${MAX_QTY}`);
const wholeWithoutUnit = (l: { qty: number; unit?: string | undefined }, ctx: z.RefinementCtx) => {
  if ((l.unit === undefined || l.unit === 'each') && !Number.isInteger(l.qty)) ctx.addIssue({ code: 'custom', path: ['qty'], message: 'must be a whole number of base units' });
};

export const ReserveLine = z
  .object({
    sku: Sku,
    qty: UnitQty,
    unit: UnitName.optional().openapi({ description: 'a pack unit of the SKU (PUT /v1/units); qty × its size must be whole base units' }),
    location: LocationId.optional(),
  })
  .strict()
  .superRefine(wholeWithoutUnit)
  .openapi('ReserveLine');

export const ReserveBody = z
  .object({
    orderRef: StoredText(128),
    channel: Channel,
    lines: z.array(ReserveLine).min(1, 'at least one line').max(MAX_LINES, `at most ${MAX_LINES} lines`),
    holdSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_HOLD_SECONDS)
      .optional()
      .openapi({
        description: `seconds until the hold expires and releases itself (1–${MAX_HOLD_SECONDS}). Omitted: the hold never expires (expiresAt null) and lasts until it is released or committed; extend cannot give it an end later.`,
      }),
    allowBackorder: z.boolean().optional(),
  })
  .strict()
  .openapi('ReserveRequest');

export const ReservationIdParams = z.object({
  id: z.uuid('must be a reservation id (uuid)').openapi({ param: { name: 'id', in: 'path' } }),
});

export const SkuQtyLines = z
  .array(z.object({ sku: Sku, qty: UnitQty, unit: UnitName.optional() }).strict().superRefine(wholeWithoutUnit))
  .min(1)
  .max(MAX_LINES);
export const ReleaseBody = z.object({ lines: SkuQtyLines.optional() }).strict().openapi('ReleaseRequest');
export const CommitBody = z.object({ lines: SkuQtyLines.optional() }).strict().openapi('CommitRequest');
export const ExtendBody = z
  .object({
    holdSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_HOLD_SECONDS)
      .openapi({ description: 'the hold now ends this many seconds from now; it must not end earlier than it does now (409 hold-would-shorten)' }),
  })
  .strict()
  .openapi('ExtendRequest');

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  body: { required, content: { 'application/json': { schema } } },
});
export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
