/**
 * Which locations exist, for refusing a line pinned to a location the service has never heard of.
 * Locations are created by PUT /v1/locations/{id} or on first use by a count or an inbound supply,
 * and never deleted, so a location seen once is known for good: each database handle keeps a
 * positive cache and asks Postgres (one statement) only about ids it has not seen yet.
 */
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../../db/client.js';
import { UnknownLocation } from '../../domain/errors.js';
import { pgArray } from '../../db/pg-array.js';

const seen = new WeakMap<object, Set<string>>();

/** The ids among `ids` that are not locations (in the order given). */
export async function unknownLocations(exec: Exec, ids: readonly string[]): Promise<string[]> {
  const known = seen.get(exec) ?? new Set<string>();
  seen.set(exec, known);
  const ask = [...new Set(ids.filter((id) => !known.has(id)))];
  if (ask.length > 0) {
    const rows = await query<{ id: string }>(exec, sql`select id from locations where id = any(${pgArray(ask)}::text[])`);
    for (const r of rows) known.add(r.id);
  }
  return ids.filter((id) => !known.has(id));
}

/**
 * Refuse request lines pinned to an unknown location: 422 unknown-location naming each
 * `${field}.${i}.location`. Lines are the caller's (before kits and units are expanded).
 */
export async function refuseUnknownLocations(exec: Exec, lines: readonly { location?: string | undefined }[], field: string): Promise<void> {
  const pinned = lines.map((l, i) => ({ i, location: l.location })).filter((l): l is { i: number; location: string } => l.location !== undefined);
  if (pinned.length === 0) return;
  const unknown = new Set(await unknownLocations(exec, pinned.map((p) => p.location)));
  const bad = pinned.filter((p) => unknown.has(p.location));
  if (bad.length > 0) throw new UnknownLocation(bad.map((p) => ({ field: `${field}.${p.i}.location`, location: p.location })));
}
