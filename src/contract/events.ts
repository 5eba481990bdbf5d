/**
 * The events the service writes, one shape each (plain zod; types by z.infer): the payload
 * (`data`) of every event type, and the CloudEvents 1.0 envelope the relay and GET /v1/events
 * wrap them in. Writers build events against this list (events/types.ts `outboxEvent()`, checked
 * by tsc); docs/EVENTS.md and docs/events.schema.json are generated from it
 * (`npm run events:doc`; test/events.docs.test.ts fails when they are stale).
 *
 * Subjects: reservation, allocation and backorder events → the reservation id; supply events →
 * the supply id; inventory.adjusted and sku.below_reorder_point → `<sku>@<location>`;
 * sku.sold_out → the SKU; availability.changed → `<channel>/<sku>`.
 */
import { z } from 'zod'; // plain zod: http/routes/events.ts names CloudEvent for the OpenAPI document with zod's .meta()
import { Position } from './atp.js';
import { Reservation } from './reservation.js';
import { AllocationMove, Receipt, ShortPickResult, Supply } from './supply.js';

const IsoTime = z.string().describe('RFC 3339 timestamp');

/** Events that re-plan a reservation's allocations (supply receipts, slips, cancels, short picks). */
const Replanned = (what: string) =>
  z
    .object({
      reason: z.string().describe('what caused it: receipt, supply-slipped, supply-advanced, supply-cancelled, short-pick, …'),
      moves: z.array(AllocationMove).describe('per displaced allocation: where its units were, where they went, and how many became short'),
      reservation: Reservation.describe('the reservation after the change'),
      supplyId: z.string().optional().describe('the supply whose change caused it'),
    })
    .catchall(z.unknown())
    .describe(what);

const Moved = z.object({
  sku: z.string(),
  location: z.string(),
  qty: z.number().int().describe('units released (or committed) from this allocation'),
  supplyId: z.string().optional().describe('set when the allocation was a backorder against inbound supply'),
});

export const EventSchemas = {
  'reservation.created': z
    .object({ reservation: Reservation })
    .describe('A reservation was accepted (all its lines allocated, backordered or short as allowed).'),
  'reservation.released': z
    .object({ released: z.array(Moved), reservation: Reservation })
    .describe('Held units were given back (the whole reservation or some lines). `reservation.status` is `released` once nothing is held.'),
  'reservation.committed': z
    .object({ committed: z.array(Moved), reservation: Reservation })
    .describe('Held units shipped: onHand and reserved both went down. `reservation.status` is `committed` once nothing is held.'),
  'reservation.extended': z
    .object({ holdSeconds: z.number().int(), expiresAt: IsoTime.nullable(), reservation: Reservation })
    .describe('The hold of a held reservation was extended to `expiresAt`.'),
  'reservation.expired': z
    .object({ released: z.array(Moved), reservation: Reservation })
    .describe('The hold ran out; everything still held was released by the expiry sweeper.'),
  'inventory.adjusted': z
    .object({ before: Position, after: Position, reason: z.string(), shortPickId: z.string().optional().describe('set when the count came from a short pick') })
    .describe('A position was set to a counted truth (PUT /v1/inventory/{sku}/{location}); the onHand change is in the ledger.'),
  'sku.sold_out': z
    .object({ sku: z.string(), at: IsoTime })
    .describe('The SKU\'s total available (over all locations, after quality hold and safety stock) went from above 0 to 0.'),
  'sku.below_reorder_point': z
    .object({
      sku: z.string(),
      location: z.string(),
      reorderPoint: z.number().int(),
      reorderQty: z.number().int().nullable(),
      projected: z.number().int().describe('onHand + inbound − reserved − backordered after the change'),
      onHand: z.number().int(),
      reserved: z.number().int(),
      inbound: z.number().int().describe('open supply not yet received at this location'),
      backordered: z.number().int().describe('part of the inbound promised to backorders'),
      at: IsoTime,
    })
    .describe(
      'A position\'s projected stock (onHand + inbound − reserved − backordered, as in GET /v1/replenishment) went from above its reorder point to at or below it. Emitted once per crossing, not again while it stays there.',
    ),
  'backorder.promised': z
    .union([
      z
        .object({
          backorders: z.array(
            z.object({ lineNo: z.number().int(), sku: z.string(), location: z.string(), qty: z.number().int(), supplyId: z.string(), promisedAt: IsoTime.nullable() }),
          ),
          reservation: Reservation,
        })
        .describe('at reservation: the lines taken as backorders'),
      Replanned('after a short pick: displaced units that could only go to inbound supply'),
    ])
    .describe(
      'Units were backordered against inbound supply with a promise date: either a new reservation (written with its reservation.created; `backorders` lists them) or a short pick displaced on-hand units that only inbound supply could replace (`reason: short-pick`, `moves`).',
    ),
  'backorder.repromised': Replanned('Backordered units were moved to other inbound supply or the same supply changed date: the promise date changed.'),
  'backorder.filled': Replanned('Inbound supply was received and backordered units became on-hand allocations.'),
  'allocation.resourced': Replanned('Allocated units lost their source (short pick, cancelled or cut supply) and were re-sourced from another location or supply.'),
  'allocation.short': Replanned('Allocated units lost their source and nothing could replace them: `moves[].shortQty` units are now short.'),
  'shortpick.recorded': ShortPickResult.describe(
    'A picker found fewer units than expected (POST /v1/short-picks): the count was booked and every reservation that lost units there was re-sourced, backordered or shorted (each also has its own event).',
  ),
  'supply.created': z.object({ supply: Supply, actor: z.string() }).describe('Inbound supply (PO line or transfer) was announced.'),
  'supply.received': z
    .object({
      receipt: Receipt,
      supply: Supply,
      actor: z.string(),
    })
    .describe('Inbound supply was received (in full or in part): onHand went up; backorders were filled first.'),
  'supply.updated': z
    .object({ before: Supply, supply: Supply, reason: z.string(), note: z.string().nullable(), actor: z.string() })
    .describe('Inbound supply changed (expected date slipped or advanced, quantity cut, reference).'),
  'supply.cancelled': z.object({ supply: Supply, note: z.string().nullable(), actor: z.string() }).describe('Inbound supply was cancelled; its backorders were re-planned.'),
  'availability.changed': z
    .object({
      sku: z.string(),
      channel: z.string().describe('a channel the rules or the API keys name, or `*`: any channel the rules do not name'),
      available: z.number().int().min(0).describe('what GET /v1/atp?sku=<sku>&channel=<channel> answers as `channel.available` at `asOf` under `rulesVersion`'),
      previous: z.number().int().min(0).nullable().describe('the figure of the previous availability.changed of this SKU and channel; null for the first'),
      rulesVersion: z.number().int().min(0),
      asOf: IsoTime.describe('the instant of the snapshot the figure was computed from (also the event `time`)'),
    })
    .describe(
      'The figure a channel may sell of a SKU changed (stock, holds or rules). Coalesced: at most one per SKU and channel per ATP_AVAILABILITY_INTERVAL_MS, carrying the figure at the end of the interval. Subject `<channel>/<sku>`.',
    ),
} as const;

/**
 * Event types with a versioned payload: their CloudEvents carry `dataschema`, the URI of the
 * payload's JSON Schema (`${EVENTS_SCHEMA_ID}#/$defs/<type>.v<n>`). A compatible change (a new
 * optional field) keeps the version; an incompatible one is a new version (docs/EVENTS.md).
 */
export const EVENT_VERSIONS: Partial<Record<EventType, number>> = { 'availability.changed': 1 };
export const EVENTS_SCHEMA_ID = 'https://atp.example.com/schemas/events.json';
/** The `$defs` name of a type's payload schema: `<type>.v<n>` when versioned, else the type. */
export const schemaDefOf = (type: EventType): string => (EVENT_VERSIONS[type] === undefined ? type : `${type}.v${EVENT_VERSIONS[type]}`);
export type EventType = keyof typeof EventSchemas;
export const EVENT_TYPES = Object.keys(EventSchemas) as EventType[];
export type EventData<T extends EventType> = z.input<(typeof EventSchemas)[T]>;

export const isEventType = (t: string): t is EventType => Object.hasOwn(EventSchemas, t);

/** Validate a stored payload against its type's schema (tests, consumers, the docs check); throws on an unknown type or a payload that does not match. */
export function parseEventData(type: string, data: unknown): unknown {
  if (!isEventType(type)) throw new Error(`unknown event type ${type}`);
  return EventSchemas[type].parse(data);
}

/** URI of the JSON Schema of a versioned type's payload (the CloudEvent `dataschema`); undefined for an unversioned or unknown type. */
export const dataschemaOf = (type: string): string | undefined =>
  isEventType(type) && EVENT_VERSIONS[type] !== undefined ? `${EVENTS_SCHEMA_ID}#/$defs/${schemaDefOf(type)}` : undefined;

// ---- CloudEvents 1.0 envelope (the relay and GET /v1/events both produce exactly this)

export const CloudEvent = z
  .object({
    specversion: z.literal('1.0'),
    id: z.uuid().describe('stable event id: the same on every redelivery (dedupe on it)'),
    source: z.string(),
    type: z.string(),
    subject: z.string(),
    time: IsoTime.describe('when the change was written (transaction time of the writer)'),
    datacontenttype: z.literal('application/json'),
    dataschema: z.url().optional().describe('URI of the JSON Schema of `data`, with its version (`…#/$defs/<type>.v<n>`); set for versioned types'),
    atpseq: z
      .string()
      .regex(/^\d+\.\d+$/)
      .describe('extension: position in the outbox order (`<txid>.<row id>`); usable as the `after` cursor of GET /v1/events'),
    data: z.unknown(),
  })
  .describe('A CloudEvents 1.0 structured-mode JSON event.');
export type CloudEvent = z.infer<typeof CloudEvent>;

/** One page of the event feed (GET /v1/events). */
export const EventsPage = z
  .object({
    events: z.array(CloudEvent.meta({ id: 'CloudEvent' })),
    next: z.string().describe('pass as `after` to read on; equals `after` when nothing new was committed'),
  })
  .meta({ id: 'EventsPage' });
export type EventsPage = z.infer<typeof EventsPage>;
