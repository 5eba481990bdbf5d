/**
 * The reservation as callers see it: one builder for the 201 body, GET, and every later verb.
 * The shape is src/contract/reservation.ts (the same zod schema documents /openapi.json and the
 * reservation.* events); the types here are its z.infer.
 */
import type { Reservation, ReservationLine } from '../../contract/reservation.js';
import type { SqlRow } from '../../db/rows.js';
import type { allocations, reservations, StoredLine } from '../../db/schema.js';

/**
 * A line. `status`: allocated / backordered / short while the line holds units (as stored); once it
 * holds nothing, where its units went: `committed` if any shipped, else `released` (by release or
 * expiry) — a `short` line stays `short` to say why. Derived from the allocations, not stored.
 */
export type LineDto = ReservationLine;
export type ReservationDto = Reservation;

/** The reservation columns the answer is built from (types from the drizzle schema, db/rows.ts). */
export type ReservationRow = Pick<SqlRow<typeof reservations>, 'id' | 'order_ref' | 'channel' | 'status' | 'expires_at' | 'rules_version' | 'created_at' | 'updated_at'>;

/** A stored line (an element of reservations.lines); the kit and unit keys may be left out when the line has none. */
export type LineRow = Pick<StoredLine, 'line_no' | 'sku' | 'qty' | 'location' | 'status'> & Partial<Pick<StoredLine, 'kit_sku' | 'per_kit' | 'unit' | 'unit_factor'>>;

/** The lines as stored on the reservation row (reservations.lines): every key present, absent ones null. */
export function storedLines(lines: readonly LineRow[]): string {
  return JSON.stringify(
    lines.map((l) => ({
      line_no: l.line_no,
      sku: l.sku,
      qty: l.qty,
      location: l.location,
      status: l.status,
      kit_sku: l.kit_sku ?? null,
      per_kit: l.per_kit ?? null,
      unit: l.unit ?? null,
      unit_factor: l.unit_factor ?? null,
    })),
  );
}

/**
 * A stored allocation. `id` and `short_qty` may be left out (rows not yet written); `id` is a
 * number when it comes through json_build_object, text from a plain select.
 */
export type AllocationRow = Pick<SqlRow<typeof allocations>, 'line_no' | 'sku' | 'location' | 'supply_id' | 'qty' | 'committed_qty' | 'released_qty' | 'promised_at'> &
  Partial<Pick<SqlRow<typeof allocations>, 'short_qty'>> & { id?: number | string };

export const iso = (d: Date | string | null | undefined): string | null =>
  d == null ? null : (d instanceof Date ? d : new Date(d)).toISOString();

/** A line's status as callers see it (see LineDto.status): the stored one while it holds anything. */
export function lineStatus(stored: LineRow['status'], allocations: readonly Pick<AllocationRow, 'qty' | 'committed_qty'>[]): LineDto['status'] {
  if (stored === 'short' || allocations.length === 0 || allocations.some((a) => a.qty > 0)) return stored;
  return allocations.some((a) => a.committed_qty > 0) ? 'committed' : 'released';
}

export function reservationDto(r: ReservationRow, lines: LineRow[], allocations: AllocationRow[]): ReservationDto {
  return {
    id: r.id,
    orderRef: r.order_ref,
    channel: r.channel,
    status: r.status,
    expiresAt: iso(r.expires_at),
    rulesVersion: r.rules_version,
    createdAt: iso(r.created_at)!,
    updatedAt: iso(r.updated_at)!,
    lines: [...lines]
      .sort((a, b) => a.line_no - b.line_no)
      .map((l) => {
        const own = allocations.filter((a) => a.line_no === l.line_no);
        return {
        lineNo: l.line_no,
        sku: l.sku,
        qty: l.qty,
        ...(l.location ? { location: l.location } : {}),
        status: lineStatus(l.status, own),
        ...(l.kit_sku ? { kit: { sku: l.kit_sku, perKit: l.per_kit ?? 1 } } : {}),
        ...(l.unit ? { unit: { name: l.unit, factor: l.unit_factor ?? 1 } } : {}),
        allocations: own
          .map((a) => ({
            location: a.location,
            qty: a.qty,
            committedQty: a.committed_qty,
            releasedQty: a.released_qty,
            ...(a.short_qty ? { shortQty: a.short_qty } : {}),
            ...(a.supply_id ? { supplyId: a.supply_id } : {}),
            ...(a.promised_at ? { promisedAt: iso(a.promised_at)! } : {}),
          })),
        };
      }),
  };
}
