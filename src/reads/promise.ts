/**
 * POST /v1/promise from one snapshot (pure: no I/O): the caller's lines are expanded with the
 * kits and units the same statement read (kits into components, pack units into base units),
 * lines pinned to a location the statement did not find are refused, and the promise is decided
 * exactly as a backorder-allowed reservation of the same lines for the same channel would be
 * allocated on that state (src/domain/promise.ts).
 */
import { UnknownLocation } from '../domain/errors.js';
import { promiseOrder } from '../domain/promise.js';
import type { RulesDocument } from '../contract/rules.js';
import { CatalogView } from '../domain/catalog.js';
import type { PromiseRequest, PromiseResult } from '../contract/atp.js';
import { promiseDto } from './answers.js';
import { physicalSkus } from './atp.js';
import type { Snapshot } from './snapshot.js';

/** POST /v1/promise as requested (contract/atp.ts PromiseRequest). */
export type PromiseInput = PromiseRequest;

/**
 * The promise for `input` on `snapshot`. Throws 400 naming `body.lines.i.unit|qty` for a unit the
 * SKU lacks or a quantity that is not whole in base units, then 422 unknown-location naming
 * `body.lines.i.location` (the order the route checked them in before).
 */
export function promiseAnswer(snapshot: Snapshot, rules: RulesDocument, input: PromiseInput, maxQty: number): PromiseResult {
  const lines = new CatalogView(snapshot.kits, snapshot.units).expand(input.lines, 'body.lines', maxQty);
  const unknown = input.lines.flatMap((l, i) => (l.location !== undefined && !snapshot.knownLocations.has(l.location) ? [{ field: `body.lines.${i}.location`, location: l.location }] : []));
  if (unknown.length > 0) throw new UnknownLocation(unknown);
  const state = snapshot.slice(physicalSkus(snapshot, input.lines.map((l) => l.sku)));
  return promiseDto(input.channel, input.shipComplete ?? false, state.now, rules, promiseOrder(state, rules, input.channel, lines, state.now));
}

/** What the read statement must fetch for a promise: the lines' SKUs and pinned locations. */
export const promiseRead = (input: PromiseInput) => ({
  skus: [...new Set(input.lines.map((l) => l.sku))],
  locations: [...new Set(input.lines.flatMap((l) => (l.location === undefined ? [] : [l.location])))],
});
