/**
 * The reads of one availability pass (src/events/availability.ts), all inside the pass's
 * REPEATABLE READ snapshot:
 * - `pendingSkus`: the SKUs named by outbox events written since the pass's cursor — every `sku`
 *   string anywhere in an event's `data` (reservation lines, released/committed moves, positions,
 *   supply, short picks). Over-approximating is harmless (a SKU whose figure did not change emits
 *   nothing); missing one would lose a change, so nothing here depends on one event shape. Only
 *   rows below the snapshot's xmin are read, in (txid, id) order, as GET /v1/events does: a row
 *   that commits later sorts after the returned cursor, so no change is skipped.
 * - `channelFigures`: `channel.available` of GET /v1/atp for each (SKU, channel), computed by the
 *   same domain function GET /v1/atp uses (`channelAvailable`, src/reads/atp.ts), with the same rules document; for a kit,
 *   from its components' figures as the route does (`kitsOf` finds the kits of changed SKUs).
 * - `lastEmitted`: the figures emitted before (availability_emitted).
 * Pure helper: `changedFigures` compares them.
 */
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import type { RulesDocument } from '../contract/rules.js';
import { type Component, kitsAvailable } from '../domain/kits.js';
import { pgArray } from '../db/pg-array.js';
import { channelAvailable, holdKey } from '../domain/allocate.js';
import { loadPositions } from '../reads/positions.js';
import type { EventType } from '../contract/events.js';
import type { SqlRow } from '../db/rows.js';
import type { kitComponents } from '../db/schema.js';

/** Every `sku` member holding a string, at any depth of an event's data. */
const SKU_PATH = 'strict $.**.sku ? (@.type() == "string")';
export const AVAILABILITY_TYPE: EventType = 'availability.changed';
/** The pseudo-channel of every channel the rules do not name (not a valid channel name: no clash). */
export const DEFAULT_CHANNEL = '*';

export interface Cursor {
  txid: string;
  id: string;
}

export interface Pending {
  /** the last row read (unchanged when none) */
  cursor: Cursor;
  rows: number;
  skus: string[];
}

/** The SKUs named by up to `maxRows` settled outbox rows after `after` (the publisher's own events excluded). */
export async function pendingSkus(exec: Exec, after: Cursor, maxRows: number): Promise<Pending> {
  const [row] = await query<{ txid: string | null; id: string | null; n: number; skus: string[] | string }>(
    exec,
    sql`with pending as materialized (
          select txid, id, type, data from outbox_event
          where (txid, id) > (${after.txid}::xid8, ${after.id}::bigint) and txid < pg_snapshot_xmin(pg_current_snapshot())
          order by txid, id limit ${maxRows}),
        last as (select txid::text as txid, id::text as id from pending order by txid desc, id desc limit 1)
        select (select txid from last) as txid, (select id from last) as id, (select count(*)::int from pending) as n,
          coalesce((select jsonb_agg(distinct s.v #>> '{}') from pending p
                    cross join lateral jsonb_path_query(p.data, ${SKU_PATH}::jsonpath, '{}', true) as s(v)
                    where p.type <> ${AVAILABILITY_TYPE}), '[]'::jsonb) as skus`,
  );
  const skus = typeof row!.skus === 'string' ? (JSON.parse(row!.skus) as string[]) : row!.skus;
  return { cursor: row!.txid && row!.id ? { txid: row!.txid, id: row!.id } : after, rows: row!.n, skus };
}

/** Of `skus` (undefined: every SKU), those with a stock position — the SKUs GET /v1/atp knows. */
export async function stockedSkus(exec: Exec, skus: readonly string[] | undefined): Promise<string[]> {
  if (skus?.length === 0) return [];
  const where = skus ? sql`where p.sku = any(${pgArray(skus)}::text[])` : sql``;
  const rows = await query<{ sku: string }>(exec, sql`select distinct p.sku from positions p join locations l on l.id = p.location ${where} order by p.sku`);
  return rows.map((r) => r.sku);
}

/**
 * Kits with a component among `components` (undefined: every kit), with all their components —
 * a kit's figure is computed from its components' (domain/kits.ts kitsAvailable), as
 * GET /v1/atp answers for a kit SKU.
 */
export async function kitsOf(exec: Exec, components: readonly string[] | undefined): Promise<Map<string, Component[]>> {
  if (components?.length === 0) return new Map();
  const where = components
    ? sql`where kit_sku in (select kit_sku from kit_components where component_sku = any(${pgArray(components)}::text[]))`
    : sql``;
  const rows = await query<Pick<SqlRow<typeof kitComponents>, 'kit_sku' | 'component_sku' | 'qty'>>(exec, sql`select kit_sku, component_sku, qty from kit_components ${where} order by kit_sku, component_sku`);
  const kits = new Map<string, Component[]>();
  for (const r of rows) kits.set(r.kit_sku, [...(kits.get(r.kit_sku) ?? []), { sku: r.component_sku, qty: r.qty }]);
  return kits;
}

/** SKUs that had a figure emitted (a full pass looks at them too: a kit removed since answers 0). */
export async function emittedSkus(exec: Exec): Promise<string[]> {
  return (await query<{ sku: string }>(exec, sql`select distinct sku from availability_emitted order by sku`)).map((r) => r.sku);
}

export interface Figure {
  sku: string;
  channel: string;
  available: number;
}

/**
 * `channel.available` of GET /v1/atp for every (SKU, channel), from the caller's snapshot: a
 * plain SKU's from channelAvailable as the route computes it, a kit's (`kits`) from its components' as
 * the route derives it.
 */
export async function channelFigures(
  exec: Exec,
  skus: readonly string[],
  rules: RulesDocument,
  channels: readonly string[],
  kits: ReadonlyMap<string, readonly Component[]> = new Map(),
): Promise<Figure[]> {
  if (skus.length === 0) return [];
  const physical = [...new Set(skus.flatMap((s) => kits.get(s)?.map((c) => c.sku) ?? [s]))];
  // issued together: pipelined on the snapshot's connection
  const [positions, holdRows] = await Promise.all([
    loadPositions(exec, physical),
    query<{ sku: string; channel: string; reserved: number }>(exec, sql`select sku, channel, reserved from channel_holds where sku = any(${pgArray(physical)}::text[])`),
  ]);
  const holds = new Map(holdRows.map((r) => [holdKey(r.sku, r.channel), r.reserved]));
  // the figure GET /v1/atp answers as channel.available (src/reads/atp.ts): the same domain function on the same rows
  return channels.flatMap((channel) => {
    const of = new Map(physical.map((sku) => [sku, channelAvailable(positions.filter((p) => p.sku === sku), rules, sku, channel, holds.get(holdKey(sku, channel)) ?? 0).forChannel]));
    return skus.map((sku) => {
      const kit = kits.get(sku);
      return { sku, channel, available: kit ? kitsAvailable(kit, (c) => of.get(c) ?? 0) : of.get(sku)! };
    });
  });
}

/** The figures last emitted for these SKUs, keyed `<channel>/<sku>`. */
export async function lastEmitted(exec: Exec, skus: readonly string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const rows = await query<{ sku: string; channel: string; available: number }>(
    exec,
    sql`select sku, channel, available from availability_emitted where sku = any(${pgArray(skus)}::text[])`,
  );
  return new Map(rows.map((r) => [subjectOf(r), r.available]));
}

export const subjectOf = (f: { sku: string; channel: string }) => `${f.channel}/${f.sku}`;

/** The figures that differ from the last emitted one (or were never emitted), with that previous figure. */
export function changedFigures(figures: readonly Figure[], previous: ReadonlyMap<string, number>): (Figure & { previous: number | null })[] {
  return figures.filter((f) => previous.get(subjectOf(f)) !== f.available).map((f) => ({ ...f, previous: previous.get(subjectOf(f)) ?? null }));
}

/** The channels a pass computes: named by the rules (defaults or per-SKU), by API keys, computed before, and `*`. */
export function channelsOf(rules: RulesDocument, keyChannels: Iterable<string>, before: Iterable<string>): string[] {
  const named = [...Object.keys(rules.channels), ...Object.values(rules.skus).flatMap((s) => Object.keys(s.channels ?? {}))];
  return [...new Set([DEFAULT_CHANNEL, ...named, ...keyChannels, ...before])].sort();
}
