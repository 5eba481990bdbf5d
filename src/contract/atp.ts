/**
 * Stock and availability shapes exchanged by the HTTP API and the events (plain zod; types by
 * z.infer): a position, the time-phased ATP of one SKU (GET /v1/atp) and the promise of an order
 * (POST /v1/promise) and its request. The `id` in `.meta()` names the shape in both documents: a component of
 * /openapi.json and a `$defs` entry of docs/events.schema.json. Computed by src/reads/atp.ts,
 * kit-atp.ts and promise.ts (src/reads/answers.ts builds the promise).
 */
import { z } from 'zod';
import { Channel, MAX_LINES } from './fields.js';
import { ReserveLine } from './reservation.js';

/** One stock position (SKU at a location), as GET /v1/inventory and inventory.adjusted show it. */
export const Position = z
  .object({
    sku: z.string(),
    location: z.string(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    qualityHold: z.number().int(),
    safetyStock: z.number().int(),
    available: z.number().int(),
  })
  .meta({ id: 'Position' });
export type Position = z.infer<typeof Position>;

// ---- time-phased ATP (GET /v1/atp)

/** One step of a cumulative availability series. */
export const DatedAvailable = z.object({ date: z.string(), available: z.number().int() });
export const AtpByDate = z.array(DatedAvailable).meta({
  id: 'AtpByDate',
  description:
    'cumulative ATP: available now plus free inbound supply expected by each date (after existing backorders); overdue supply (expected in the past, not received) counts from now, so no date is before the answer',
});

/** What a channel may take of the SKU now, after its rules. */
export const AtpChannelNow = z.object({
  name: z.string(),
  tier: z.number().int(),
  available: z.number().int(),
  protectedUnits: z.number().int(),
  capRoom: z.number().int().nullable(),
  rulesVersion: z.number().int(),
});

/** Open inbound supply of the SKU. */
export const Inbound = z.object({
  supplyId: z.string(),
  location: z.string(),
  expectedAt: z.string(),
  /** still expected (qty − received) */
  openQty: z.number().int(),
  /** of which promised to backorders */
  allocatedQty: z.number().int(),
  /** of which free to promise */
  freeQty: z.number().int(),
});

/** A kit's recipe and the kits only combining locations gives. */
export const KitAvailability = z
  .object({
    components: z.array(z.object({ sku: z.string(), qty: z.number().int() })),
    acrossLocations: z.number().int().describe(
      'kits available only by combining components held at different locations: available = Σ locations[].available + acrossLocations, all reservable at once',
    ),
  })
  .describe(
    'present when the SKU is a kit. A reservation sources each component of a kit line on its own, so available (and channel.available) is what an unpinned kit line can take, components combined across locations',
  );

/** The same availability in whole packs of a unit (rounded down). */
export const UnitAvailability = z
  .object({
    unit: z.string(),
    factor: z.number().int(),
    available: z.number().int(),
    byDate: AtpByDate,
    locations: z.array(z.object({ location: z.string(), available: z.number().int(), byDate: AtpByDate })),
    channel: z.object({ available: z.number().int(), byDate: AtpByDate }).optional(),
  })
  .describe('with ?unit=: the same availability in whole packs of that unit (rounded down)');

export const TimePhasedAtpSku = z
  .object({
    sku: z.string(),
    kit: KitAvailability.optional(),
    onHand: z.number().int(),
    reserved: z.number().int(),
    qualityHold: z.number().int(),
    safetyStock: z.number().int(),
    available: z.number().int(),
    byDate: AtpByDate,
    locations: z
      .array(z.intersection(Position, z.object({ rank: z.number().int().describe('the location rank (lower ships first)'), byDate: AtpByDate })))
      .describe('per location; for a kit: the kits a line pinned to that location can take (its components there)'),
    inbound: z.array(Inbound),
    channel: AtpChannelNow.extend({ byDate: AtpByDate }).optional(),
    inUnit: UnitAvailability.optional(),
  })
  .meta({ id: 'TimePhasedAtpSku' });

export type DatedAvailable = z.infer<typeof DatedAvailable>;
export type AtpChannelNow = z.infer<typeof AtpChannelNow>;
export type Inbound = z.infer<typeof Inbound>;
export type KitAvailability = z.infer<typeof KitAvailability>;
export type UnitAvailability = z.infer<typeof UnitAvailability>;
export type TimePhasedAtpSku = z.infer<typeof TimePhasedAtpSku>;

// ---- promise (POST /v1/promise)

export const PromiseRequest = z
  .object({
    channel: Channel,
    lines: z.array(ReserveLine).min(1, 'at least one line').max(MAX_LINES, `at most ${MAX_LINES} lines`),
    shipComplete: z.boolean().optional(),
  })
  .strict()
  .meta({ id: 'PromiseRequest' });

export const PromiseLine = z.object({
  lineNo: z
    .number()
    .int()
    .describe('the caller\'s line (1-based): one answer line per request line; a kit line is answered as the kit, in kits, dated by its latest component'),
  sku: z.string(),
  qty: z.number().int(),
  location: z.string().optional(),
  promisedAt: z.string().nullable(),
  /** with shipComplete: the date the whole order ships (the order's promisedAt) */
  shipAt: z.string().nullable().optional(),
  source: z.enum(['on-hand', 'inbound', 'mixed']).optional(),
  sources: z.array(
    z.object({
      sku: z.string().optional().describe('for a kit line: the component this source supplies (its qty in base units of that component)'),
      location: z.string(),
      qty: z.number().int(),
      supplyId: z.string().optional(),
      expectedAt: z.string().optional(),
    }),
  ),
  reason: z.string().optional(),
  detail: z.string().optional(),
});

export const PromiseResult = z
  .object({
    channel: z.string(),
    shipComplete: z.boolean(),
    asOf: z.string(),
    promisedAt: z.string().nullable().describe('the date the whole order can ship complete, or null (see reason)'),
    reason: z.string().optional(),
    detail: z.string().optional(),
    rulesVersion: z.number().int(),
    lines: z.array(PromiseLine),
  })
  .meta({ id: 'PromiseResult' });

export type PromiseRequest = z.infer<typeof PromiseRequest>;
export type PromiseLine = z.infer<typeof PromiseLine>;
export type PromiseResult = z.infer<typeof PromiseResult>;
