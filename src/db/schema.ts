/**
 * The drizzle schema: the single source of the database layout. Migrations in `drizzle/` are
 * generated from this file by `npm run db:generate` (drizzle-kit) and committed.
 *
 * Quantities are whole numbers of the SKU's base unit (int4; the API caps them far below 2^31).
 * Lock order used by every transaction that takes row locks (deadlock freedom):
 *   reservations (by id) → positions (by sku, location) → supply (by sku, expected_at, id).
 * `channel_holds` rows are only written by transactions that hold the positions locks of that SKU.
 */
import { sql } from 'drizzle-orm';
import { SUPPLY_KINDS, SUPPLY_STATUSES } from '../contract/supply.js';
import {
  bigint,
  bigserial,
  check,
  customType,
  index,
  integer,
  json,
  jsonb,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });
/** generic in the name, so a raw row's type keeps the column name (db/rows.ts) */
const ts = <N extends string>(name: N) => timestamp(name, { withTimezone: true, mode: 'date' });

export const locations = pgTable('locations', {
  id: text('id').primaryKey(),
  name: text('name'),
  /** lower ships first */
  rank: integer('rank').notNull().default(100),
  createdAt: ts('created_at').notNull().defaultNow(),
});

export const positions = pgTable(
  'positions',
  {
    sku: text('sku').notNull(),
    location: text('location')
      .notNull()
      .references(() => locations.id),
    onHand: integer('on_hand').notNull().default(0),
    reserved: integer('reserved').notNull().default(0),
    qualityHold: integer('quality_hold').notNull().default(0),
    safetyStock: integer('safety_stock').notNull().default(0),
    reorderPoint: integer('reorder_point'),
    reorderQty: integer('reorder_qty'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.sku, t.location] }),
    check('positions_on_hand_nonneg', sql`${t.onHand} >= 0`),
    check('positions_reserved_nonneg', sql`${t.reserved} >= 0`),
    check('positions_quality_hold_nonneg', sql`${t.qualityHold} >= 0`),
    check('positions_safety_stock_nonneg', sql`${t.safetyStock} >= 0`),
    // The physical invariant: what is reserved or held back can never exceed what is on hand,
    // so an oversell cannot be stored whatever the application does.
    check('positions_no_oversell', sql`${t.reserved} + ${t.qualityHold} <= ${t.onHand}`),
  ],
);

/** One element of reservations.lines (drizzle/0009): a line as the caller asked for it, in base units. */
export interface StoredLine {
  line_no: number;
  sku: string;
  qty: number;
  /** location pinned by the caller, if any */
  location: string | null;
  status: 'allocated' | 'backordered' | 'short';
  /** set when this line is a component of a kit the caller ordered: the kit and units per kit */
  kit_sku: string | null;
  per_kit: number | null;
  /** set when the caller ordered in a pack unit: the unit and its size in base units */
  unit: string | null;
  unit_factor: number | null;
}

export const reservations = pgTable(
  'reservations',
  {
    id: uuid('id').primaryKey(),
    orderRef: text('order_ref').notNull(),
    channel: text('channel').notNull(),
    status: text('status', { enum: ['held', 'committed', 'released', 'expired'] }).notNull(),
    holdSeconds: integer('hold_seconds'),
    expiresAt: ts('expires_at'),
    rulesVersion: integer('rules_version').notNull().default(0),
    caller: text('caller').notNull(),
    /** the caller's Idempotency-Key: unique per caller, so a concurrent duplicate cannot insert twice */
    idempotencyKey: text('idempotency_key'),
    /** sha-256 of method, route and canonical body (services/idempotency.ts): the same key with another body is refused */
    fingerprint: text('fingerprint'),
    /** the first 201 answer, immutable: a replay returns it byte for byte whatever happened since */
    /** json, not jsonb: the text is kept as written, so a replay is the first answer byte for byte */
    answer: json('answer'),
    /**
     * The lines, in line_no order: {line_no, sku, qty, location, status, kit_sku, per_kit, unit,
     * unit_factor} (services/dto.ts LineRow); on the row itself, not one row each (drizzle/0009).
     * The view reservation_lines shows them as rows, for readers.
     */
    lines: jsonb('lines').$type<StoredLine[]>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('reservations_status', sql`${t.status} in ('held','committed','released','expired')`),
    index('reservations_expiry_idx')
      .on(t.expiresAt)
      .where(sql`${t.status} = 'held' and ${t.expiresAt} is not null`),
    uniqueIndex('reservations_caller_key_idx').on(t.caller, t.idempotencyKey),
  ],
);

export const allocations = pgTable(
  'allocations',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    reservationId: uuid('reservation_id')
      .notNull()
      .references(() => reservations.id),
    lineNo: integer('line_no').notNull(),
    sku: text('sku').notNull(),
    location: text('location').notNull(),
    /** set when the allocation is against inbound supply (a backorder) rather than on-hand stock */
    supplyId: uuid('supply_id'),
    /** quantity still held (active); reserved == Σ qty over on-hand allocations of a position */
    qty: integer('qty').notNull(),
    committedQty: integer('committed_qty').notNull().default(0),
    releasedQty: integer('released_qty').notNull().default(0),
    /** units this allocation lost and could not re-source (supply cancelled, short pick): the line is short */
    shortQty: integer('short_qty').notNull().default(0),
    promisedAt: ts('promised_at'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('allocations_qty_nonneg', sql`${t.qty} >= 0 and ${t.committedQty} >= 0 and ${t.releasedQty} >= 0`),
    check('allocations_short_nonneg', sql`${t.shortQty} >= 0`),
    index('allocations_reservation_idx').on(t.reservationId),
    index('allocations_active_position_idx').on(t.sku, t.location).where(sql`${t.qty} > 0`),
    index('allocations_active_supply_idx').on(t.supplyId).where(sql`${t.qty} > 0 and ${t.supplyId} is not null`),
  ],
);

/** What each channel holds reserved (on hand or backordered) per SKU: enforces channel caps. */
export const channelHolds = pgTable(
  'channel_holds',
  {
    sku: text('sku').notNull(),
    channel: text('channel').notNull(),
    reserved: integer('reserved').notNull().default(0),
  },
  (t) => [
    primaryKey({ columns: [t.sku, t.channel] }),
    check('channel_holds_nonneg', sql`${t.reserved} >= 0`),
  ],
);

/** Every change of onHand, with its reason: Σ delta_on_hand == positions.on_hand (reserved is Σ active allocations, not ledgered). */
export const ledger = pgTable(
  'ledger',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sku: text('sku').notNull(),
    location: text('location').notNull(),
    deltaOnHand: integer('delta_on_hand').notNull().default(0),
    reason: text('reason').notNull(),
    actor: text('actor').notNull(),
    reservationId: uuid('reservation_id'),
    ref: text('ref'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('ledger_position_idx').on(t.sku, t.location)],
);

export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    caller: text('caller').notNull(),
    key: text('key').notNull(),
    /** sha-256 of method, route and canonical body: the same key with another body is refused */
    fingerprint: text('fingerprint').notNull(),
    statusCode: integer('status_code').notNull(),
    response: jsonb('response').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.caller, t.key] }), index('idempotency_created_idx').on(t.createdAt)],
);

/** Inbound supply (PO line or transfer): becomes on hand only when received. */
export const supply = pgTable(
  'supply',
  {
    id: uuid('id').primaryKey(),
    sku: text('sku').notNull(),
    location: text('location')
      .notNull()
      .references(() => locations.id),
    kind: text('kind', { enum: SUPPLY_KINDS }).notNull().default('po'),
    reference: text('reference'),
    qty: integer('qty').notNull(),
    receivedQty: integer('received_qty').notNull().default(0),
    /** backordered quantity allocated against this supply and not yet received */
    allocatedQty: integer('allocated_qty').notNull().default(0),
    expectedAt: ts('expected_at').notNull(),
    status: text('status', { enum: SUPPLY_STATUSES }).notNull().default('open'),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    check('supply_qty_pos', sql`${t.qty} > 0 and ${t.receivedQty} >= 0 and ${t.allocatedQty} >= 0`),
    check('supply_no_overallocation', sql`${t.allocatedQty} + ${t.receivedQty} <= ${t.qty}`),
    index('supply_sku_idx').on(t.sku, t.expectedAt),
  ],
);

/** Transactional outbox: written in the same transaction as the change it announces. */
export const outbox = pgTable(
  'outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull().unique().default(sql`gen_random_uuid()`),
    type: text('type').notNull(),
    subject: text('subject').notNull(),
    /** NULL for reservation.created: its data is the reservation's immutable first answer, read through the view outbox_event (drizzle/0008) */
    data: jsonb('data'),
    /** writer's transaction id: the relay publishes only what every older transaction has settled */
    txid: xid8('txid').notNull().default(sql`pg_current_xact_id()`),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    // the relay and GET /v1/events page in (txid, id) order from a cursor
    index('outbox_txid_id_idx').on(t.txid, t.id),
    check('outbox_data_or_reference', sql`${t.data} is not null or ${t.type} = 'reservation.created'`),
  ],
);

/**
 * The relay's position (one row): the last outbox row in the stream, in (txid, id) order. Rows
 * above it are unpublished; one UPDATE per pass instead of one per event (src/events/relay.ts).
 */
export const relayCursor = pgTable(
  'relay_cursor',
  {
    id: smallint('id').primaryKey().default(1),
    txid: xid8('txid').notNull().default(sql`'0'`),
    outboxId: bigint('outbox_id', { mode: 'number' }).notNull().default(0),
    publishedAt: ts('published_at'),
  },
  (t) => [check('relay_cursor_one_row', sql`${t.id} = 1`)],
);

/**
 * What happened to a reservation after it was made, and why: backorder filled by a receipt,
 * re-promised after a supply slip, re-sourced or short after a cancel or a short pick.
 * Written in the same transaction as the change (and its outbox event); read by
 * GET /v1/reservations/{id}/changes.
 */
export const reservationChanges = pgTable(
  'reservation_changes',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    reservationId: uuid('reservation_id')
      .notNull()
      .references(() => reservations.id),
    /** backorder.filled | backorder.repromised | allocation.resourced | allocation.short */
    kind: text('kind').notNull(),
    /** receipt | supply-slipped | supply-cancelled | supply-reduced | short-pick */
    reason: text('reason').notNull(),
    detail: jsonb('detail').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('reservation_changes_reservation_idx').on(t.reservationId, t.id)],
);

/** A short pick as reported by the warehouse: the found count is the truth. */
export const shortPicks = pgTable(
  'short_picks',
  {
    id: uuid('id').primaryKey(),
    sku: text('sku').notNull(),
    location: text('location').notNull(),
    expectedQty: integer('expected_qty').notNull(),
    foundQty: integer('found_qty').notNull(),
    reservationId: uuid('reservation_id'),
    reason: text('reason').notNull(),
    actor: text('actor').notNull(),
    /** what was done: position before/after and every affected reservation */
    outcome: jsonb('outcome').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [
    check('short_picks_qty_nonneg', sql`${t.expectedQty} >= 0 and ${t.foundQty} >= 0`),
    index('short_picks_position_idx').on(t.sku, t.location),
  ],
);
/** Kits and bundles: a virtual SKU made of components; reserving it reserves every component. */
export const kitComponents = pgTable(
  'kit_components',
  {
    kitSku: text('kit_sku').notNull(),
    componentSku: text('component_sku').notNull(),
    /** base units of the component per kit */
    qty: integer('qty').notNull(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.kitSku, t.componentSku] }),
    check('kit_components_qty_pos', sql`${t.qty} > 0`),
    check('kit_components_not_self', sql`${t.kitSku} <> ${t.componentSku}`),
  ],
);

/** Units of measure: pack sizes of a SKU in base units (each = 1 is implicit). */
export const skuUnits = pgTable(
  'sku_units',
  {
    sku: text('sku').notNull(),
    unit: text('unit').notNull(),
    factor: integer('factor').notNull(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sku, t.unit] }), check('sku_units_factor_pos', sql`${t.factor} > 0`)],
);

/**
 * The channel-priority rules, every version kept (issue 16 item 2): Postgres is the one authority.
 * A PUT inserts `max(version) + 1` in one statement that also checks If-Match; the primary key
 * makes two concurrent writers of the same version impossible (the loser sees 412). Rows are never
 * updated or deleted, so a version never repeats and never goes back. Redis (REDIS_URL) holds a
 * live copy of the latest row.
 */
export const rules = pgTable(
  'rules',
  {
    version: integer('version').primaryKey(),
    /** the RulesInput document (without version and updatedAt) */
    doc: jsonb('doc').notNull(),
    /** who set it (the API key's id) */
    actor: text('actor'),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [check('rules_version_pos', sql`${t.version} > 0`)],
);
