/**
 * The reservation as callers see it: the 201 body, GET, every later verb's answer and the
 * reservation.* events (plain zod; types by z.infer, built by services/reservations/dto.ts). The `id` in
 * `.meta()` names the shape in /openapi.json and docs/events.schema.json alike. Below it, the
 * requests: reserve, release, commit, extend.
 */
import { z } from 'zod';
import { Channel, LocationId, MAX_HOLD_SECONDS, MAX_LINES, Sku, StoredText, UnitName, UnitQty, wholeWithoutUnit } from './fields.js';

export const Allocation = z
  .object({
    location: z.string(),
    /** units still held */
    qty: z.number().int(),
    committedQty: z.number().int(),
    releasedQty: z.number().int(),
    /** units lost and not re-sourced (supply cancelled, short pick); present when > 0 */
    shortQty: z.number().int().optional(),
    /** set for a backorder: the inbound supply this allocation waits for */
    supplyId: z.string().optional(),
    promisedAt: z.string().optional(),
  })
  .meta({ id: 'Allocation' });

export const ReservationLine = z.object({
  lineNo: z.number().int(),
  sku: z.string(),
  qty: z.number().int(),
  location: z.string().optional(),
  status: z
    .enum(['allocated', 'backordered', 'short', 'released', 'committed'])
    .describe(
      'allocated / backordered / short while the line holds units; once it holds nothing: committed if any of it shipped, else released (by release or expiry); a short line stays short',
    ),
  kit: z
    .object({ sku: z.string(), perKit: z.number().int() })
    .optional()
    .describe('this line is a component of a kit the caller ordered: qty = kits × perKit'),
  unit: z
    .object({ name: z.string(), factor: z.number().int() })
    .optional()
    .describe('the caller ordered in a pack unit: qty (base units) = quantity in the unit × factor'),
  allocations: z.array(Allocation),
});

export const Reservation = z
  .object({
    id: z.string(),
    orderRef: z.string(),
    channel: z.string(),
    status: z.enum(['held', 'committed', 'released', 'expired']),
    expiresAt: z.string().nullable(),
    rulesVersion: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
    lines: z.array(ReservationLine),
  })
  .meta({ id: 'Reservation' });

export type Allocation = z.infer<typeof Allocation>;
export type ReservationLine = z.infer<typeof ReservationLine>;
export type Reservation = z.infer<typeof Reservation>;

// ---- requests

export const ReserveLine = z
  .object({
    sku: Sku,
    qty: UnitQty,
    unit: UnitName.optional().describe('a pack unit of the SKU (PUT /v1/units); qty × its size must be whole base units'),
    location: LocationId.optional(),
  })
  .strict()
  .superRefine(wholeWithoutUnit)
  .meta({ id: 'ReserveLine' });

export const ReserveRequest = z
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
      .describe(
        `seconds until the hold expires and releases itself (1–${MAX_HOLD_SECONDS}). Omitted: the hold never expires (expiresAt null) and lasts until it is released or committed; extend cannot give it an end later.`,
      ),
    allowBackorder: z.boolean().optional(),
  })
  .strict()
  .meta({ id: 'ReserveRequest' });

export const SkuQtyLines = z
  .array(z.object({ sku: Sku, qty: UnitQty, unit: UnitName.optional() }).strict().superRefine(wholeWithoutUnit))
  .min(1)
  .max(MAX_LINES);
export const ReleaseRequest = z.object({ lines: SkuQtyLines.optional() }).strict().meta({ id: 'ReleaseRequest' });
export const CommitRequest = z.object({ lines: SkuQtyLines.optional() }).strict().meta({ id: 'CommitRequest' });
export const ExtendRequest = z
  .object({
    holdSeconds: z
      .number()
      .int()
      .min(1)
      .max(MAX_HOLD_SECONDS)
      .describe('the hold now ends this many seconds from now; it must not end earlier than it does now (409 hold-would-shorten)'),
  })
  .strict()
  .meta({ id: 'ExtendRequest' });

export type ReserveLine = z.infer<typeof ReserveLine>;
export type ReserveRequest = z.infer<typeof ReserveRequest>;
export type ReleaseRequest = z.infer<typeof ReleaseRequest>;
export type CommitRequest = z.infer<typeof CommitRequest>;
export type ExtendRequest = z.infer<typeof ExtendRequest>;
