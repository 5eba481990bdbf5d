/**
 * Request schemas of the supply, promise and short-pick routes. The answers (Supply, the supply
 * change, AllocationMove, AffectedReservation, ShortPickResult, ReservationChange, the promise and
 * the time-phased ATP) are defined once in src/contract/ (plain zod, named there with `.meta()`)
 * and re-exported here for the routes.
 */
import { z } from '@hono/zod-openapi';
import { PromiseResult, TimePhasedAtpSku } from '../contract/atp.js';
import { AffectedReservation, AllocationMove, ReservationChange, ShortPickResult, Supply, SupplyChange } from '../contract/supply.js';
import { Channel, LocationId, Qty, ReserveLine, Sku, StoredText, MAX_LINES } from './schemas.js';

export { AffectedReservation, AllocationMove, PromiseResult, ReservationChange, ShortPickResult, Supply, SupplyChange, TimePhasedAtpSku };

const Instant = z.iso
  .datetime({ offset: true, error: 'an ISO 8601 date-time with offset, e.g. 2026-12-01T00:00:00Z' })
  .refine((v) => {
    const y = new Date(v).getUTCFullYear();
    return y >= 2000 && y <= 9999;
  }, 'must fall between the years 2000 and 9999 (UTC)')
  .openapi({ example: '2026-12-01T00:00:00Z' });

export const SupplyIdParams = z.object({
  id: z.uuid('must be a supply id (uuid)').openapi({ param: { name: 'id', in: 'path' } }),
});

export const CreateSupplyBody = z
  .object({
    sku: Sku,
    location: LocationId,
    qty: Qty,
    expectedAt: Instant.openapi({ description: 'arrival at the location; a past date (overdue supply) is accepted and promised from now: no promise date is ever before the time of the answer' }),
    kind: z.enum(['po', 'transfer']).optional(),
    reference: StoredText(200).optional(),
  })
  .strict()
  .openapi('CreateSupply');

export const UpdateSupplyBody = z
  .object({
    expectedAt: Instant.optional(),
    qty: Qty.optional(),
    reference: StoredText(200).optional(),
    reason: StoredText(200).optional(),
  })
  .strict()
  .refine((b) => b.expectedAt !== undefined || b.qty !== undefined || b.reference !== undefined, { message: 'give expectedAt, qty or reference' })
  .openapi('UpdateSupply');

export const CancelSupplyBody = z.object({ reason: StoredText(200).optional() }).strict().openapi('CancelSupply');

export const ReceiptBody = z.object({ qty: Qty, reference: StoredText(200).optional() }).strict().openapi('Receipt');

export const SupplyListQuery = z.object({
  sku: Sku.optional().openapi({ param: { name: 'sku', in: 'query' } }),
  status: z.enum(['open', 'received', 'cancelled']).optional().openapi({ param: { name: 'status', in: 'query' } }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ param: { name: 'limit', in: 'query' } }),
});

// ---- promise
export const PromiseBody = z
  .object({
    channel: Channel,
    lines: z.array(ReserveLine).min(1, 'at least one line').max(MAX_LINES, `at most ${MAX_LINES} lines`),
    shipComplete: z.boolean().optional(),
  })
  .strict()
  .openapi('PromiseRequest');

// ---- short picks
export const ShortPickBody = z
  .object({
    sku: Sku,
    location: LocationId,
    expectedQty: z.number().int().min(0).max(1_000_000_000),
    foundQty: z.number().int().min(0).max(1_000_000_000),
    reservationId: z.uuid().optional(),
    reason: StoredText(200),
  })
  .strict()
  .openapi('ShortPickRequest');
