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
 *   same function the route's now-view uses (`getAtp`), with the same rules document.
 * - `lastEmitted`: the figures emitted before (availability_emitted).
 * Pure helper: `changedFigures` compares them.
 */
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import type { RulesDocument } from '../rules/schema.js';
import { getAtp } from '../services/inventory.js';
import type { EventType } from './types.js';

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
          select txid, id, type, data from outbox
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
  const where = skus ? sql`where p.sku in (select jsonb_array_elements_text(${JSON.stringify(skus)}::jsonb))` : sql``;
  const rows = await query<{ sku: string }>(exec, sql`select distinct p.sku from positions p join locations l on l.id = p.location ${where} order by p.sku`);
  return rows.map((r) => r.sku);
}

export interface Figure {
  sku: string;
  channel: string;
  available: number;
}

/** `channel.available` of GET /v1/atp for every (SKU, channel), from the caller's snapshot. */
export async function channelFigures(exec: Exec, skus: readonly string[], rules: RulesDocument, channels: readonly string[]): Promise<Figure[]> {
  if (skus.length === 0) return [];
  // issued together: pipelined on the snapshot's connection
  const views = await Promise.all(channels.map((channel) => getAtp(exec, skus, rules, channel)));
  return views.flatMap((rows, i) => rows.map((r) => ({ sku: r.sku, channel: channels[i]!, available: r.channel!.available })));
}

/** The figures last emitted for these SKUs, keyed `<channel>/<sku>`. */
export async function lastEmitted(exec: Exec, skus: readonly string[]): Promise<Map<string, number>> {
  if (skus.length === 0) return new Map();
  const rows = await query<{ sku: string; channel: string; available: number }>(
    exec,
    sql`select sku, channel, available from availability_emitted where sku in (select jsonb_array_elements_text(${JSON.stringify(skus)}::jsonb))`,
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
