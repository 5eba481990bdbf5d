/**
 * The catalog as of one moment: kits (a virtual SKU made of components) and units of measure
 * (pack sizes in base units), and the pure work done with them. Requests name kits and pack units;
 * the allocation core only ever sees base units of physical SKUs, so a kit line becomes one line
 * per component, summed with any other line for the same component (demand is never
 * double-counted) and allocated all-or-nothing with them.
 *
 * The read path builds a `CatalogView` from its statement's rows (src/reads/snapshot.ts); the write
 * path's cached copy (`Catalog`, src/services/catalog/catalog.ts) extends it.
 */
import type { LineRequest } from './allocate.js';
import { ValidationFailed } from './errors.js';
import type { Component } from './kits.js';

export const BASE_UNIT = 'each';

export interface RequestLine {
  sku: string;
  qty: number;
  unit?: string | undefined;
  location?: string | undefined;
}

/** A line in base units of a physical SKU, with where it came from: what the allocation decision takes (one shape, `domain/allocate.ts`). */
export type BaseLine = LineRequest;

const EPS = 1e-9;

/**
 * `qty × factor` as the decimal figures the caller wrote them (0.2 × 12 is "2.4", not
 * 2.4000000000000004): exact for a plain decimal `qty`, whole only when exactly whole.
 */
export function timesFactor(qty: number, factor: number): { text: string; whole: number | undefined } {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(qty));
  if (!m) {
    // exponent notation (very small or large figures): round away binary noise for the message
    const base = qty * factor;
    const whole = Math.round(base);
    return { text: String(Number(base.toPrecision(15))), whole: Math.abs(base - whole) <= EPS ? whole : undefined };
  }
  const frac = m[2] ?? '';
  const product = BigInt(m[1]! + frac) * BigInt(factor);
  const scale = 10n ** BigInt(frac.length);
  const int = product / scale;
  const rest = (product % scale).toString().padStart(frac.length, '0').replace(/0+$/, '');
  return { text: rest ? `${int}.${rest}` : `${int}`, whole: rest ? undefined : Number(int) };
}

/** Base units per `unit` of `sku` from somewhere other than today's catalog (e.g. a reservation's stored factor); undefined: ask the catalog. */
export type FactorOf = (sku: string, unit: string | undefined) => number | undefined;

/**
 * Kits and units as of one moment, and the pure work done with them (expanding request lines to
 * base-unit lines of physical SKUs). The read path builds one from its statement's rows
 * (src/reads/snapshot.ts); `Catalog` (src/services/catalog/catalog.ts) is the cached copy the write path uses.
 */
export class CatalogView {
  constructor(
    protected kits: ReadonlyMap<string, readonly Component[]> = new Map(),
    protected units: ReadonlyMap<string, ReadonlyMap<string, number>> = new Map(),
  ) {}

  kitOf(sku: string): readonly Component[] | undefined {
    return this.kits.get(sku);
  }

  unitsOf(sku: string): { unit: string; factor: number }[] {
    return [{ unit: BASE_UNIT, factor: 1 }, ...[...(this.units.get(sku) ?? [])].map(([unit, factor]) => ({ unit, factor })).sort((a, b) => a.factor - b.factor)];
  }

  /** Base units per `unit` of `sku`; undefined for a unit the SKU does not have. */
  factor(sku: string, unit: string | undefined): number | undefined {
    if (unit === undefined || unit === BASE_UNIT) return 1;
    return this.units.get(sku)?.get(unit);
  }

  /**
   * Request lines → base-unit lines of physical SKUs. Throws 400 naming the field for an unknown
   * unit or a quantity that is not a whole number of base units. `field` prefixes the field
   * names (e.g. `body.lines`).
   */
  expand(lines: readonly RequestLine[], field: string, maxQty: number): BaseLine[] {
    const errors: { field: string; reason: string }[] = [];
    const out: BaseLine[] = [];
    this.toBase(lines, field, maxQty, errors).forEach((line, i) => {
      if (!line) return;
      const kit = this.kits.get(line.sku);
      if (!kit) {
        out.push({ ...line, line: i });
        return;
      }
      for (const c of kit) {
        if (line.qty * c.qty > maxQty) errors.push({ field: `${field}.${i}.qty`, reason: `${line.qty} × ${c.qty} ${c.sku} per kit exceeds ${maxQty} base units` });
        else out.push({ sku: c.sku, qty: line.qty * c.qty, location: line.location, kit: { sku: line.sku, perKit: c.qty }, unit: line.unit, line: i });
      }
    });
    if (errors.length > 0) throw new ValidationFailed(errors);
    return out;
  }

  /**
   * Pack units → base units, without expanding kits (release and commit name a kit by the
   * composition stored on the reservation, not by today's definition). `factorOf` answers first
   * (release and commit pass the factor stored on the reservation's line, so a pack size changed
   * since the order does not change what "1 case" of that order means). Throws 400 naming the field.
   */
  baseQuantities(lines: readonly RequestLine[], field: string, maxQty: number, factorOf?: FactorOf): { sku: string; qty: number }[] {
    const errors: { field: string; reason: string }[] = [];
    const out = this.toBase(lines, field, maxQty, errors, factorOf);
    if (errors.length > 0) throw new ValidationFailed(errors);
    return out.map((l) => ({ sku: l!.sku, qty: l!.qty }));
  }

  private toBase(lines: readonly RequestLine[], field: string, maxQty: number, errors: { field: string; reason: string }[], factorOf?: FactorOf): (BaseLine | undefined)[] {
    return lines.map((line, i) => {
      const factor = factorOf?.(line.sku, line.unit) ?? this.factor(line.sku, line.unit);
      if (factor === undefined) {
        const known = this.unitsOf(line.sku).map((u) => `${u.unit} (${u.factor})`).join(', ');
        errors.push({ field: `${field}.${i}.unit`, reason: `${line.sku} has no unit "${line.unit}"; known: ${known}` });
        return undefined;
      }
      const base = timesFactor(line.qty, factor);
      const whole = base.whole ?? 0;
      if (base.whole === undefined || whole < 1) {
        errors.push({ field: `${field}.${i}.qty`, reason: `${line.qty} ${line.unit ?? BASE_UNIT} is ${base.text} base units; must be a whole number of at least 1` });
        return undefined;
      }
      if (whole > maxQty) {
        errors.push({ field: `${field}.${i}.qty`, reason: `${line.qty} ${line.unit ?? BASE_UNIT} is ${whole} base units; at most ${maxQty}` });
        return undefined;
      }
      const unit = line.unit !== undefined && line.unit !== BASE_UNIT ? { name: line.unit, factor } : undefined;
      return { sku: line.sku, qty: whole, location: line.location, unit };
    });
  }
}
