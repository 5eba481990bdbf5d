/**
 * Request and response schemas of the supply, promise and time-phased ATP routes. Shapes the
 * events share (Supply, AllocationMove, AffectedReservation, ShortPickResult) are defined once in
 * src/contract/supply.ts and re-exported here.
 */
import { z } from '@hono/zod-openapi';
import { AffectedReservation, AllocationMove, ShortPickResult, Supply } from '../contract/supply.js';
import { Channel, LocationId, Position, Qty, ReserveLine, Sku, StoredText, MAX_LINES } from './schemas.js';

export { AffectedReservation, AllocationMove, ShortPickResult, Supply };

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

export const SupplyChangeResult = z
  .object({
    supply: Supply,
    receipt: z
      .object({ supplyId: z.string(), qty: z.number().int(), reference: z.string().nullable(), filledBackorders: z.number().int(), toStock: z.number().int() })
      .optional(),
    affected: z.array(AffectedReservation),
  })
  .openapi('SupplyChangeResult');

export const SupplyListQuery = z.object({
  sku: Sku.optional().openapi({ param: { name: 'sku', in: 'query' } }),
  status: z.enum(['open', 'received', 'cancelled']).optional().openapi({ param: { name: 'status', in: 'query' } }),
  limit: z.coerce.number().int().min(1).max(1000).default(100).openapi({ param: { name: 'limit', in: 'query' } }),
});

export const ReservationChange = z
  .object({ id: z.string(), kind: z.string(), reason: z.string(), detail: z.unknown(), at: z.string() })
  .openapi('ReservationChange');

// ---- promise
export const PromiseBody = z
  .object({
    channel: Channel,
    lines: z.array(ReserveLine).min(1, 'at least one line').max(MAX_LINES, `at most ${MAX_LINES} lines`),
    shipComplete: z.boolean().optional(),
  })
  .strict()
  .openapi('PromiseRequest');

export const PromiseResult = z
  .object({
    channel: z.string(),
    shipComplete: z.boolean(),
    asOf: z.string(),
    promisedAt: z.string().nullable().openapi({ description: 'the date the whole order can ship complete, or null (see reason)' }),
    reason: z.string().optional(),
    detail: z.string().optional(),
    rulesVersion: z.number().int(),
    lines: z.array(
      z.object({
        lineNo: z.number().int().openapi({ description: 'the caller\'s line (1-based): one answer line per request line; a kit line is answered as the kit, in kits, dated by its latest component' }),
        sku: z.string(),
        qty: z.number().int(),
        location: z.string().optional(),
        promisedAt: z.string().nullable(),
        shipAt: z.string().nullable().optional(),
        source: z.enum(['on-hand', 'inbound', 'mixed']).optional(),
        sources: z.array(
          z.object({
            sku: z.string().optional().openapi({ description: 'for a kit line: the component this source supplies (its qty in base units of that component)' }),
            location: z.string(),
            qty: z.number().int(),
            supplyId: z.string().optional(),
            expectedAt: z.string().optional(),
          }),
        ),
        reason: z.string().optional(),
        detail: z.string().optional(),
      }),
    ),
  })
  .openapi('PromiseResult');

// ---- time-phased ATP
const ByDate = z.array(z.object({ date: z.string(), available: z.number().int() })).openapi('AtpByDate', {
  description: 'cumulative ATP: available now plus free inbound supply expected by each date (after existing backorders); overdue supply (expected in the past, not received) counts from now, so no date is before the answer',
});
const AtpChannel = z.object({
  name: z.string(),
  tier: z.number().int(),
  available: z.number().int(),
  protectedUnits: z.number().int(),
  capRoom: z.number().int().nullable(),
  rulesVersion: z.number().int(),
  byDate: ByDate,
});
export const TimePhasedAtpSku = z
  .object({
    sku: z.string(),
    kit: z
      .object({
        components: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
        acrossLocations: z.number().int().openapi({
          description: 'kits available only by combining components held at different locations: available = Σ locations[].available + acrossLocations, all reservable at once',
        }),
      })
      .optional()
      .openapi({
        description:
          'present when the SKU is a kit. A reservation sources each component of a kit line on its own, so available (and channel.available) is what an unpinned kit line can take, components combined across locations',
      }),
    onHand: z.number().int(),
    reserved: z.number().int(),
    qualityHold: z.number().int(),
    safetyStock: z.number().int(),
    available: z.number().int(),
    byDate: ByDate,
    locations: z.array(z.intersection(Position, z.object({ rank: z.number().int().openapi({ description: 'the location rank (lower ships first)' }), byDate: ByDate }))).openapi({
      description: 'per location; for a kit: the kits a line pinned to that location can take (its components there)',
    }),
    inbound: z.array(
      z.object({
        supplyId: z.string(),
        location: z.string(),
        expectedAt: z.string(),
        openQty: z.number().int(),
        allocatedQty: z.number().int(),
        freeQty: z.number().int(),
      }),
    ),
    channel: AtpChannel.optional(),
    inUnit: z
      .object({
        unit: z.string(),
        factor: z.number().int(),
        available: z.number().int(),
        byDate: ByDate,
        locations: z.array(z.object({ location: z.string(), available: z.number().int(), byDate: ByDate })),
        channel: z.object({ available: z.number().int(), byDate: ByDate }).optional(),
      })
      .optional()
      .openapi({ description: 'with ?unit=: the same availability in whole packs of that unit (rounded down)' }),
  })
  .openapi('TimePhasedAtpSku');

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
