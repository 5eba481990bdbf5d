/**
 * ATP of kits and in pack units, derived from the physical SKUs' time-phased ATP:
 * - a kit's availability (now, per location, by date, for a channel) is the fewest whole kits
 *   its components allow: min over components of floor(component available / qty per kit) —
 *   exactly what a reservation gets, because a reservation sources each component of a kit line
 *   on its own (src/domain/allocate.ts): the total (and the channel's figure) is what an unpinned
 *   kit line can take, with components combined across locations; a location's figure is what a
 *   line pinned to that location can take. `kit.acrossLocations` = total − Σ locations: the kits
 *   that exist only by combining components held at different locations. All of them can be
 *   reserved at once (pinned lines for each location's figure plus an unpinned line for the rest);
 *   property-tested in test/defects.kits.test.ts;
 * - in a pack unit, availability is floor(base units / pack size) — never a fractional pack.
 */
import type { DatedAvailable, UnitAvailability } from '../contract/atp.js';
import type { KitAtp, PhysicalAtp } from './answers.js';
import { type Component, kitsAvailable } from '../domain/kits.js';

const locationsOf = (row: PhysicalAtp | undefined): PhysicalAtp['locations'] => row?.locations ?? [];

/** Cumulative availability of a by-date series at `date` (the last step at or before it). */
function at(series: readonly DatedAvailable[], now: number, date: string): number {
  let v = now;
  for (const s of series) if (s.date <= date) v = s.available;
  return v;
}

function kitSeries(components: readonly Component[], series: (sku: string) => { now: number; byDate: readonly DatedAvailable[] }): DatedAvailable[] {
  const dates = [...new Set(components.flatMap((c) => series(c.sku).byDate.map((d) => d.date)))].sort();
  return dates.map((date) => ({ date, available: kitsAvailable(components, (sku) => at(series(sku).byDate, series(sku).now, date)) }));
}

export function kitAtp(kitSku: string, components: readonly Component[], rows: ReadonlyMap<string, PhysicalAtp>): KitAtp {
  const row = (sku: string) => rows.get(sku);
  const total = (sku: string) => ({ now: row(sku)?.available ?? 0, byDate: row(sku)?.byDate ?? [] });
  const locationIds = [...new Set(components.flatMap((c) => row(c.sku)?.locations.map((l) => l.location) ?? []))];
  const locations = locationIds
    .map((location) => {
      const loc = (sku: string) => locationsOf(row(sku)).find((l) => l.location === location);
      const series = (sku: string) => ({ now: loc(sku)?.available ?? 0, byDate: loc(sku)?.byDate ?? [] });
      return {
        sku: kitSku,
        location,
        rank: Math.min(...components.map((c) => loc(c.sku)?.rank ?? Number.MAX_SAFE_INTEGER)),
        onHand: kitsAvailable(components, (sku) => loc(sku)?.onHand ?? 0),
        reserved: 0,
        qualityHold: 0,
        safetyStock: 0,
        available: kitsAvailable(components, (sku) => series(sku).now),
        byDate: kitSeries(components, series),
      };
    })
    .sort((a, b) => a.rank - b.rank || a.location.localeCompare(b.location));
  const first = row(components[0]!.sku)?.channel;
  const available = kitsAvailable(components, (sku) => total(sku).now);
  return {
    sku: kitSku,
    kit: { components: [...components], acrossLocations: available - locations.reduce((n, l) => n + l.available, 0) },
    onHand: kitsAvailable(components, (sku) => row(sku)?.onHand ?? 0),
    reserved: 0,
    qualityHold: 0,
    safetyStock: 0,
    available,
    byDate: kitSeries(components, total),
    locations,
    inbound: [],
    ...(first
      ? {
          channel: {
            ...first,
            available: kitsAvailable(components, (sku) => row(sku)?.channel?.available ?? 0),
            protectedUnits: 0,
            capRoom: null,
            byDate: kitSeries(components, (sku) => ({ now: row(sku)?.channel?.available ?? 0, byDate: row(sku)?.channel?.byDate ?? [] })),
          },
        }
      : {}),
  };
}

/** The availability of one ATP row in whole pack units (rounded down). */
export function unitView(row: PhysicalAtp, unit: string, factor: number): UnitAvailability {
  const down = (n: number) => Math.floor(n / factor);
  const series = (s: readonly DatedAvailable[]) => s.map((d) => ({ date: d.date, available: down(d.available) }));
  return {
    unit,
    factor,
    available: down(row.available),
    byDate: series(row.byDate),
    locations: locationsOf(row).map((l) => ({ location: l.location, available: down(l.available), byDate: series(l.byDate) })),
    ...(row.channel ? { channel: { available: down(row.channel.available), byDate: series(row.channel.byDate) } } : {}),
  };
}
