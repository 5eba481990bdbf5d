/**
 * The catalog of the write path: kits and units of measure (the pure view and the expansion of
 * request lines: src/domain/catalog.ts), kept in memory (`Catalog`: it changes rarely and is read
 * on every reservation) and re-read when it is older than `ttlMs` and the digest of its contents
 * moved; a local change invalidates it at once, so a kit or unit defined on another instance is
 * used there within `ttlMs`. The read path (src/reads/) reads the kits and units of the SKUs it
 * answers in its own statement (`CatalogView`): a change acknowledged anywhere is in the next read.
 * Also the definitions (admin): put/get/delete a kit, put a SKU's units.
 */
import { pgArray } from '../../db/pg-array.js';
import { eq, sql } from 'drizzle-orm';
import { type Db, query, type Reader } from '../../db/client.js';
import { BASE_UNIT, CatalogView } from '../../domain/catalog.js';
import { Conflict, NotFound, ValidationFailed } from '../../domain/errors.js';
import { inTransaction } from '../../db/tx.js';
import { type Clock, nowSql, ttlClock } from '../../db/clock.js';
import type { Kit, Units, UnitsInput } from '../../contract/catalog.js';
import type { Component } from '../../domain/kits.js';
import { kitComponents, skuUnits } from '../../db/schema.js';

/**
 * The catalog cached per instance for the write path (reservations, releases): `fresh()` re-reads
 * it when it is older than `ttlMs` and its digest moved; a local change invalidates it at once.
 * The read path does not use this copy (it reads the kits and units it needs in its statement).
 */
export class Catalog extends CatalogView {
  private stamp: string | undefined;
  private checkedAt = -Infinity;
  private loading: Promise<void> | undefined;
  private readonly now: () => number;

  /** `clock`: tests only, drives the TTL (db/clock.ts); otherwise the monotonic process clock */
  constructor(
    private readonly db: Db,
    private readonly ttlMs = 2000,
    private readonly clock?: Clock,
  ) {
    super();
    this.now = ttlClock(clock);
  }

  /** Make sure the in-memory copy is at most `ttlMs` old (one cheap stamp query when it is). */
  async fresh(): Promise<void> {
    if (this.stamp !== undefined && this.now() - this.checkedAt < this.ttlMs) return;
    this.loading ??= this.load().finally(() => (this.loading = undefined));
    await this.loading;
  }

  invalidate(): void {
    this.checkedAt = -Infinity;
  }

  private async load(): Promise<void> {
    // a digest of the whole (small) catalog: any committed change moves it, whatever the clocks did
    const [s] = await query<{ stamp: string }>(
      this.db,
      sql`select md5(concat(
            (select string_agg(concat_ws(':', kit_sku, component_sku, qty), ',' order by kit_sku, component_sku) from kit_components), '|',
            (select string_agg(concat_ws(':', sku, unit, factor), ',' order by sku, unit) from sku_units))) as stamp`,
    );
    const started = this.now();
    if (s?.stamp !== this.stamp) {
      const kitRows = await this.db
        .select({ kitSku: kitComponents.kitSku, componentSku: kitComponents.componentSku, qty: kitComponents.qty })
        .from(kitComponents)
        .orderBy(kitComponents.kitSku, kitComponents.componentSku);
      const unitRows = await this.db.select({ sku: skuUnits.sku, unit: skuUnits.unit, factor: skuUnits.factor }).from(skuUnits);
      const kits = new Map<string, Component[]>();
      for (const r of kitRows) kits.set(r.kitSku, [...(kits.get(r.kitSku) ?? []), { sku: r.componentSku, qty: r.qty }]);
      const units = new Map<string, Map<string, number>>();
      for (const r of unitRows) units.set(r.sku, (units.get(r.sku) ?? new Map()).set(r.unit, r.factor));
      this.kits = kits;
      this.units = units;
      this.stamp = s?.stamp;
    }
    this.checkedAt = started;
  }

  // ---- definitions (admin)

  async putKit(sku: string, components: readonly Component[]): Promise<Kit> {
    const merged = new Map<string, number>();
    for (const c of components) merged.set(c.sku, (merged.get(c.sku) ?? 0) + c.qty);
    const errors: { field: string; reason: string }[] = [];
    components.forEach((c, i) => {
      if (c.sku === sku) errors.push({ field: `body.components.${i}.sku`, reason: 'a kit cannot contain itself' });
    });
    if (errors.length > 0) throw new ValidationFailed(errors);
    const result = await inTransaction(this.db, async (tx) => {
      // serialise catalog writes so the nesting checks below see every committed kit
      await query(tx, sql`select pg_advisory_xact_lock(hashtext('atp:catalog'))`);
      const nested = await query<{ kit_sku: string }>(tx, sql`select distinct kit_sku from kit_components where kit_sku = any(${pgArray([...merged.keys()])}::text[])`);
      if (nested.length > 0) throw new Conflict(`components ${nested.map((n) => n.kit_sku).join(', ')} are kits themselves; kits of kits are not supported`);
      const usedIn = await query<{ kit_sku: string }>(tx, sql`select distinct kit_sku from kit_components where component_sku = ${sku}`);
      if (usedIn.length > 0) throw new Conflict(`${sku} is a component of ${usedIn.map((n) => n.kit_sku).join(', ')}; kits of kits are not supported`);
      const stocked = await query(tx, sql`select 1 from positions where sku = ${sku} and on_hand > 0 limit 1`);
      if (stocked.length > 0) throw new Conflict(`${sku} has stock of its own; a kit is virtual (its availability comes from its components)`);
      await query(tx, sql`delete from kit_components where kit_sku = ${sku}`);
      const rows = [...merged].map(([component, qty]) => ({ component, qty }));
      await query(
        tx,
        sql`insert into kit_components (kit_sku, component_sku, qty, updated_at)
            select ${sku}, d.component, d.qty, ${nowSql(this.clock)} from unnest(${pgArray(rows.map((r) => r.component))}::text[], ${pgArray(rows.map((r) => r.qty))}::int[]) as d(component, qty)`,
      );
      return { sku, components: rows.map((r) => ({ sku: r.component, qty: r.qty })) };
    });
    this.invalidate();
    return result;
  }

  async deleteKit(sku: string): Promise<void> {
    const rows = await query(this.db, sql`delete from kit_components where kit_sku = ${sku} returning 1`);
    if (rows.length === 0) throw new NotFound('kit', sku);
    this.invalidate();
  }

  async getKit(db: Reader, sku: string): Promise<Kit> {
    const components = await db
      .select({ sku: kitComponents.componentSku, qty: kitComponents.qty })
      .from(kitComponents)
      .where(eq(kitComponents.kitSku, sku))
      .orderBy(kitComponents.componentSku);
    if (components.length === 0) throw new NotFound('kit', sku);
    return { sku, components };
  }

  async putUnits(sku: string, units: UnitsInput['units']): Promise<Units> {
    const errors: { field: string; reason: string }[] = [];
    const seen = new Set<string>();
    units.forEach((u, i) => {
      if (u.unit === BASE_UNIT) errors.push({ field: `body.units.${i}.unit`, reason: `"${BASE_UNIT}" is the base unit (factor 1) of every SKU` });
      if (seen.has(u.unit)) errors.push({ field: `body.units.${i}.unit`, reason: `unit "${u.unit}" is listed twice` });
      seen.add(u.unit);
    });
    if (errors.length > 0) throw new ValidationFailed(errors);
    await inTransaction(this.db, async (tx) => {
      await query(tx, sql`delete from sku_units where sku = ${sku}`);
      if (units.length > 0) {
        await query(tx, sql`insert into sku_units (sku, unit, factor, updated_at) select ${sku}, d.unit, d.factor, ${nowSql(this.clock)} from unnest(${pgArray(units.map((u) => u.unit))}::text[], ${pgArray(units.map((u) => u.factor))}::int[]) as d(unit, factor)`);
      }
    });
    this.invalidate();
    await this.fresh();
    return { sku, baseUnit: BASE_UNIT, units: this.unitsOf(sku) };
  }
}
