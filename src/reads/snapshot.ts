/**
 * The one statement of the read path (issue 15): everything a read of some SKUs depends on, in a
 * single autocommit SELECT, so one snapshot and one round trip answer it:
 * - the kit definitions and pack units of the requested SKUs (no catalog cache on the read path:
 *   a kit or unit acknowledged on any instance is in the next read);
 * - positions (with location rank), open inbound supply (with what backorders already took:
 *   `allocated_qty`) and channel holds of the requested SKUs and of their kits' components;
 * - the latest rules version, with its document only when it is newer than the caller knows;
 * - which of the given location ids exist (lines pinned to a location);
 * - the statement's instant (Postgres now() to the ms, or the test clock, db/clock.ts).
 * No locks, no transaction. `Snapshot.slice` gives one request its SKUs' part.
 */
import { asDate, type Clock } from '../db/clock.js';
import type { ReadStatement } from '../db/client.js';
import { type AllocationState, holdKey, type PositionState, type SupplyState } from '../domain/allocate.js';
import type { Component } from '../domain/kits.js';
import { pgArray } from '../db/pg-array.js';

/** An open inbound supply row as the read path needs it. */
export interface SupplyRow {
  id: string;
  sku: string;
  location: string;
  rank: number;
  qty: number;
  received_qty: number;
  allocated_qty: number;
  expected_at: string;
}

/** One request's part of a snapshot: the allocation state of its SKUs at the statement's instant. */
export interface SnapshotSlice extends Required<AllocationState> {
  supplyRows: SupplyRow[];
  now: Date;
}

/** The rules row as the statement saw it: the latest version, its document only when newer than `known`. */
export interface RulesRow {
  version: number;
  /** the stored document's JSON and time, when version > known */
  doc?: { json: string; updatedAt: string } | undefined;
}

export class Snapshot {
  constructor(
    readonly now: Date,
    private readonly positions: ReadonlyMap<string, PositionState[]>,
    private readonly supply: ReadonlyMap<string, SupplyRow[]>,
    private readonly holds: ReadonlyMap<string, [string, number][]>,
    readonly kits: ReadonlyMap<string, Component[]>,
    readonly units: ReadonlyMap<string, Map<string, number>>,
    /** undefined: no rules stored yet */
    readonly rules: RulesRow | undefined,
    readonly knownLocations: ReadonlySet<string>,
  ) {}

  /** The state of these (physical) SKUs: positions ordered by sku, location; supply by sku, expected_at, id. */
  slice(skus: readonly string[]): SnapshotSlice {
    const unique = [...new Set(skus)].sort();
    const positions: PositionState[] = [];
    const supplyRows: SupplyRow[] = [];
    const holds = new Map<string, number>();
    for (const sku of unique) {
      for (const p of this.positions.get(sku) ?? []) positions.push({ ...p });
      for (const s of this.supply.get(sku) ?? []) supplyRows.push(s);
      for (const [channel, reserved] of this.holds.get(sku) ?? []) holds.set(holdKey(sku, channel), reserved);
    }
    const supplies: SupplyState[] = supplyRows.map((r) => ({ id: r.id, sku: r.sku, location: r.location, rank: r.rank, free: r.qty - r.received_qty - r.allocated_qty, expectedAt: new Date(r.expected_at) }));
    return { positions, supplies, holds, supplyRows, now: this.now };
  }
}

type Row = {
  now: Date | string;
  positions: [string, string, number, number, number, number, number][] | null;
  supply: [string, string, string, number, number, number, number, string][] | null;
  holds: [string, string, number][] | null;
  kits: [string, string, number][] | null;
  units: [string, string, number][] | null;
  locations: string[] | null;
  rules_version: number | string | null;
  rules_doc: string | null;
  rules_at: string | null;
};

/** json columns come back parsed from postgres.js and as text from some drivers */
const parsed = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

function group<T>(rows: readonly T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = out.get(k);
    if (list) list.push(r);
    else out.set(k, [r]);
  }
  return out;
}

/**
 * The statement, one fixed text (a named prepared statement: planned once per connection).
 * $1 requested SKUs, $2 the rules version the caller knows, $3 location ids, $4 the test clock's
 * instant or null (Postgres now() to the millisecond, db/clock.ts).
 */
const STATEMENT = `with req as (select $1::text[] as skus),
  k as (select kit_sku, component_sku, qty from kit_components where kit_sku = any((select skus from req)::text[])),
  ph as (select array(select unnest(skus) from req union select component_sku from k) as skus),
  r as (select version, case when version > $2::bigint then doc::text end as doc,
               case when version > $2::bigint then to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') end as at
        from rules order by version desc limit 1)
select coalesce($4::timestamptz, date_trunc('milliseconds', now())) as now,
  (select json_agg(json_build_array(p.sku, p.location, l.rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock) order by p.sku, p.location)
     from positions p join locations l on l.id = p.location where p.sku = any((select skus from ph)::text[])) as positions,
  (select json_agg(json_build_array(s.id, s.sku, s.location, l.rank, s.qty, s.received_qty, s.allocated_qty, s.expected_at) order by s.sku, s.expected_at, s.id)
     from supply s join locations l on l.id = s.location where s.sku = any((select skus from ph)::text[]) and s.status = 'open') as supply,
  (select json_agg(json_build_array(h.sku, h.channel, h.reserved)) from channel_holds h where h.sku = any((select skus from ph)::text[])) as holds,
  (select json_agg(json_build_array(kit_sku, component_sku, qty) order by kit_sku, component_sku) from k) as kits,
  (select json_agg(json_build_array(u.sku, u.unit, u.factor)) from sku_units u where u.sku = any((select skus from req)::text[])) as units,
  (select json_agg(id) from locations where id = any($3::text[])) as locations,
  (select version from r) as rules_version, (select doc from r) as rules_doc, (select at from r) as rules_at`;

/**
 * Run the read statement for `skus` (requested SKUs; kits among them bring their components).
 * `knownRulesVersion`: the document comes back only for a newer version. `locations`: ids to check.
 * Errors: whatever the driver throws (the caller maps them; a read changes nothing).
 */
export async function readSnapshot(run: ReadStatement, skus: readonly string[], knownRulesVersion: number, locations: readonly string[], clock?: Clock): Promise<Snapshot> {
  const [row] = (await run(STATEMENT, [pgArray(skus), knownRulesVersion, pgArray(locations), clock ? clock.now().toISOString() : null])) as Row[];
  const r = row!;
  const positions = group(
    (parsed<Row['positions']>(r.positions) ?? []).map(([sku, location, rank, onHand, reserved, qualityHold, safetyStock]): PositionState => ({ sku, location, rank, onHand, reserved, qualityHold, safetyStock })),
    (p) => p.sku,
  );
  const supply = group(
    (parsed<Row['supply']>(r.supply) ?? []).map(([id, sku, location, rank, qty, received_qty, allocated_qty, expected_at]): SupplyRow => ({ id, sku, location, rank, qty, received_qty, allocated_qty, expected_at })),
    (s) => s.sku,
  );
  const holds = new Map<string, [string, number][]>();
  for (const [sku, channel, reserved] of parsed<Row['holds']>(r.holds) ?? []) holds.set(sku, [...(holds.get(sku) ?? []), [channel, reserved]]);
  const kits = new Map<string, Component[]>();
  for (const [kit, sku, qty] of parsed<Row['kits']>(r.kits) ?? []) kits.set(kit, [...(kits.get(kit) ?? []), { sku, qty }]);
  const units = new Map<string, Map<string, number>>();
  for (const [sku, unit, factor] of parsed<Row['units']>(r.units) ?? []) units.set(sku, (units.get(sku) ?? new Map<string, number>()).set(unit, factor));
  const rules: RulesRow | undefined =
    r.rules_version === null ? undefined : { version: Number(r.rules_version), doc: r.rules_doc === null ? undefined : { json: r.rules_doc, updatedAt: r.rules_at! } };
  return new Snapshot(asDate(r.now), positions, supply, holds, kits, units, rules, new Set(parsed<string[] | null>(r.locations) ?? []));
}
