/**
 * The reservation as callers see it: the 201 body, GET, every later verb's answer and the
 * reservation.* events (plain zod; types by z.infer, built by services/reservations/dto.ts). The `id` in
 * `.meta()` names the shape in /openapi.json and docs/events.schema.json alike.
 */
import { z } from 'zod';

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
