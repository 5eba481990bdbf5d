/**
 * Inbound supply and re-planning shapes exchanged by the HTTP API and the events (plain zod;
 * types by z.infer). The `id` in `.meta()` names the shape in /openapi.json and
 * docs/events.schema.json alike.
 */
import { z } from 'zod';
import { Position } from './atp.js';
import { Instant, LocationId, Qty, Sku, StoredText } from './fields.js';

/** What a supply is: a purchase order or a transfer (the column `supply.kind` takes the same values). */
export const SUPPLY_KINDS = ['po', 'transfer'] as const;
export const SupplyKind = z.enum(SUPPLY_KINDS);
/** Where a supply stands (the column `supply.status`, the `status` filter of GET /v1/supply). */
export const SUPPLY_STATUSES = ['open', 'received', 'cancelled'] as const;
export const SupplyStatus = z.enum(SUPPLY_STATUSES);

export const Supply = z
  .object({
    id: z.string(),
    sku: z.string(),
    location: z.string(),
    kind: SupplyKind,
    reference: z.string().nullable(),
    qty: z.number().int(),
    receivedQty: z.number().int(),
    /** backordered units promised against this supply and not yet received */
    allocatedQty: z.number().int(),
    /** units still expected and not promised to anyone */
    freeQty: z.number().int(),
    expectedAt: z.string(),
    status: SupplyStatus,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Supply' });

const Source = z.object({ location: z.string(), qty: z.number().int(), supplyId: z.string().optional(), promisedAt: z.string().optional() });
export const AllocationMove = z.object({ from: Source, to: z.array(Source), shortQty: z.number().int() }).meta({ id: 'AllocationMove' });

export const AffectedReservation = z
  .object({
    reservationId: z.string(),
    kind: z.enum(['backorder.promised', 'backorder.repromised', 'allocation.resourced', 'allocation.short', 'backorder.filled']),
    moves: z.array(AllocationMove),
  })
  .meta({ id: 'AffectedReservation' });

export const ShortPickResult = z
  .object({
    id: z.string(),
    sku: z.string(),
    location: z.string(),
    expectedQty: z.number().int(),
    foundQty: z.number().int(),
    reservationId: z.string().nullable(),
    reason: z.string(),
    position: z.object({ before: Position, after: Position }),
    qualityHoldWrittenOff: z.number().int(),
    affected: z.array(AffectedReservation),
  })
  .meta({ id: 'ShortPickResult' });

/** What a receipt booked (the receipts answer and supply.received). */
export const Receipt = z.object({
  supplyId: z.string(),
  qty: z.number().int(),
  reference: z.string().nullable(),
  filledBackorders: z.number().int(),
  toStock: z.number().int(),
});

/** A supply after a change (create aside), what a receipt booked, and the reservations the change re-planned. */
export const SupplyChange = z
  .object({ supply: Supply, receipt: Receipt.optional(), affected: z.array(AffectedReservation) })
  .meta({ id: 'SupplyChangeResult' });

/** One recorded change of a reservation after it was made (GET /v1/reservations/{id}/changes). */
export const ReservationChange = z
  .object({ id: z.string(), kind: z.string(), reason: z.string(), detail: z.unknown(), at: z.string() })
  .meta({ id: 'ReservationChange' });

export type Supply = z.infer<typeof Supply>;
export type Receipt = z.infer<typeof Receipt>;
export type SupplyChange = z.infer<typeof SupplyChange>;
export type ReservationChange = z.infer<typeof ReservationChange>;
export type AllocationMove = z.infer<typeof AllocationMove>;
export type AffectedReservation = z.infer<typeof AffectedReservation>;
export type ShortPickResult = z.infer<typeof ShortPickResult>;

// ---- requests

export const CreateSupply = z
  .object({
    sku: Sku,
    location: LocationId,
    qty: Qty,
    expectedAt: Instant.describe('arrival at the location; a past date (overdue supply) is accepted and promised from now: no promise date is ever before the time of the answer'),
    kind: SupplyKind.optional(),
    reference: StoredText(200).optional(),
  })
  .strict()
  .meta({ id: 'CreateSupply' });

export const UpdateSupply = z
  .object({
    expectedAt: Instant.optional(),
    qty: Qty.optional(),
    reference: StoredText(200).optional(),
    reason: StoredText(200).optional(),
  })
  .strict()
  .refine((b) => b.expectedAt !== undefined || b.qty !== undefined || b.reference !== undefined, { message: 'give expectedAt, qty or reference' })
  .meta({ id: 'UpdateSupply' });

export const CancelSupply = z.object({ reason: StoredText(200).optional() }).strict().meta({ id: 'CancelSupply' });

/** A receipt as requested (named `Receipt` in /openapi.json); `Receipt` above is what it booked. */
export const ReceiptRequest = z.object({ qty: Qty, reference: StoredText(200).optional() }).strict().meta({ id: 'Receipt' });

export const ShortPickRequest = z
  .object({
    sku: Sku,
    location: LocationId,
    expectedQty: z.number().int().min(0).max(1_000_000_000),
    foundQty: z.number().int().min(0).max(1_000_000_000),
    reservationId: z.uuid().optional(),
    reason: StoredText(200),
  })
  .strict()
  .meta({ id: 'ShortPickRequest' });

export type CreateSupply = z.infer<typeof CreateSupply>;
export type UpdateSupply = z.infer<typeof UpdateSupply>;
export type CancelSupply = z.infer<typeof CancelSupply>;
export type ReceiptRequest = z.infer<typeof ReceiptRequest>;
export type ShortPickRequest = z.infer<typeof ShortPickRequest>;
