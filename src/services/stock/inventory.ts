/**
 * Stock positions: the cycle count (set a position, audited in the ledger) and locations. The
 * now-view of ATP is the read path's (src/reads/atp.ts).
 */
import { recordLedger } from '../ledger.js';
import { pgArray } from '../../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../../db/clock.js';
import { type Exec, query, type Reader, type Tx } from '../../db/client.js';
import type { SqlRow } from '../../db/rows.js';
import { locations } from '../../db/schema.js';
import type { PositionState } from '../../domain/allocate.js';
import { KitHoldsNoStock, WouldOvercommit } from '../../domain/errors.js';
import { loadProjected, reorderCrossings, soldOutCrossings } from '../../events/stock.js';
import { outboxEvent } from '../../events/types.js';
import { emit } from '../../events/outbox.js';
import type { Position } from '../../contract/atp.js';
import type { Location, LocationInput, SetPosition } from '../../contract/stock.js';
import { type PositionRow, positionDto, toState } from '../../reads/positions.js';

/** A count (contract/stock.ts SetPosition) of the position `sku` at `location`: `reorderPoint` null clears it, omitted keeps what is stored. */
export type SetPositionInput = SetPosition & {
  sku: string;
  location: string;
  /** the request field naming the SKU, for a refusal (default `param.sku`) */
  skuField?: string | undefined;
};

/**
 * Set a position to a counted truth. Locks the position row; the onHand change is written to the
 * ledger with its reason and an `inventory.adjusted` event goes to the outbox in the same
 * transaction. A count below what is reserved + quality-held is refused (409 would-overcommit)
 * rather than stored.
 * Time: `{ at }` when the caller's transaction already read its instant (reconciliation), else
 * its first statement reads it (Postgres time, or the test `clock`); the rows (location,
 * position, ledger) and the events carry it.
 */
export async function setPosition(tx: Tx, input: SetPositionInput, actor: string, time: { at: Date } | { clock: Clock | undefined }): Promise<Position> {
  await refuseKits(tx, [{ sku: input.sku, field: input.skuField ?? 'param.sku' }]);
  const [first] = await query<{ at: Date | string }>(
    tx,
    sql`with t as (select ${'at' in time ? sql`${time.at.toISOString()}::timestamptz` : nowSql(time.clock)} as at),
          l as (insert into locations (id, created_at) select ${input.location}, t.at from t on conflict (id) do nothing)
        select t.at from t`,
  );
  const at = asDate(first!.at);
  const stamp = sql`${at.toISOString()}::timestamptz`;
  // make sure the row exists before locking it: two first counts of a new position must serialise
  // on its lock (a FOR UPDATE on a missing row locks nothing, and both would book a delta from 0)
  await query(tx, sql`insert into positions (sku, location, updated_at) values (${input.sku}, ${input.location}, ${stamp}) on conflict (sku, location) do nothing`);
  // every position of the SKU is locked in the global order (the SKU's total decides sku.sold_out)
  const all = await query<PositionRow>(
    tx,
    sql`select p.sku, p.location, 0 as rank, p.on_hand, p.reserved, p.quality_hold, p.safety_stock
        from positions p where p.sku = ${input.sku} order by p.location for update`,
  );
  const projectedBefore = await loadProjected(tx, [input.sku]);
  const before = all.find((r) => r.location === input.location);
  const old = before ? toState(before) : { sku: input.sku, location: input.location, rank: 0, onHand: 0, reserved: 0, qualityHold: 0, safetyStock: 0 };
  const next: PositionState = {
    ...old,
    onHand: input.onHand,
    qualityHold: input.qualityHold ?? old.qualityHold,
    safetyStock: input.safetyStock ?? old.safetyStock,
  };
  if (next.reserved + next.qualityHold > next.onHand) {
    throw new WouldOvercommit(
      `${input.sku}@${input.location}: onHand ${next.onHand} is less than reserved ${next.reserved} + qualityHold ${next.qualityHold}; release reservations or report a short pick first`,
      { sku: input.sku, location: input.location, onHand: next.onHand, reserved: next.reserved, qualityHold: next.qualityHold },
    );
  }
  await query(
    tx,
    sql`insert into positions (sku, location, on_hand, quality_hold, safety_stock, reorder_point, reorder_qty)
        values (${input.sku}, ${input.location}, ${next.onHand}, ${next.qualityHold}, ${next.safetyStock}, ${input.reorderPoint ?? null}, ${input.reorderQty ?? null})
        on conflict (sku, location) do update set on_hand = excluded.on_hand, quality_hold = excluded.quality_hold,
          safety_stock = excluded.safety_stock,
          reorder_point = case when ${input.reorderPoint === undefined} then positions.reorder_point else excluded.reorder_point end,
          reorder_qty = case when ${input.reorderQty === undefined} then positions.reorder_qty else excluded.reorder_qty end,
          updated_at = ${stamp}`,
  );
  const reason = input.reason ?? 'cycle-count';
  await recordLedger(tx, [{ sku: input.sku, location: input.location, deltaOnHand: next.onHand - old.onHand, reason }], actor, at);
  const dto = positionDto(next);
  const beforeAll = all.map(toState);
  const afterAll = [...beforeAll.filter((p) => p.location !== input.location), next];
  await emit(
    tx,
    [
      outboxEvent('inventory.adjusted', `${input.sku}@${input.location}`, { before: positionDto(old), after: dto, reason }),
      ...soldOutCrossings(beforeAll, afterAll, at),
      ...reorderCrossings(projectedBefore, await loadProjected(tx, [input.sku]), at),
    ],
    at,
  );
  return dto;
}

/**
 * Refuse stock for a kit SKU (422 kit-holds-no-stock naming the field): a kit is virtual. Takes
 * the catalog lock shared, so a kit defined concurrently (PUT /v1/kits takes it exclusively and
 * refuses a SKU with stock) and a count of the same SKU cannot both succeed.
 */
export async function refuseKits(tx: Tx, items: readonly { sku: string; field: string }[]): Promise<void> {
  if (items.length === 0) return;
  // two statements, pipelined (one round trip): the check must read a snapshot taken after the lock
  const [, kits] = await Promise.all([
    query(tx, sql`select pg_advisory_xact_lock_shared(hashtext('atp:catalog'))`),
    query<{ kit_sku: string }>(tx, sql`select distinct kit_sku from kit_components where kit_sku = any(${pgArray([...new Set(items.map((i) => i.sku))])}::text[])`),
  ]);
  const first = items.find((i) => kits.some((k) => k.kit_sku === i.sku));
  if (first) throw new KitHoldsNoStock(first.sku, first.field);
}

/** Create or update a location (one statement; a new row is stamped with Postgres time, or the test `clock`). */
export async function putLocation(exec: Exec, id: string, input: LocationInput, clock?: Clock): Promise<Location> {
  const [row] = await query<Pick<SqlRow<typeof locations>, 'id' | 'name' | 'rank'>>(
    exec,
    sql`insert into locations (id, name, rank, created_at) values (${id}, ${input.name ?? null}, ${input.rank ?? 100}, ${nowSql(clock)})
        on conflict (id) do update set name = coalesce(${input.name ?? null}, locations.name), rank = coalesce(${input.rank ?? null}::int, locations.rank)
        returning id, name, rank`,
  );
  return row!;
}

/** Every location, lower rank (ships first) first, then by id. */
export async function listLocations(db: Reader): Promise<Location[]> {
  return await db.select({ id: locations.id, name: locations.name, rank: locations.rank }).from(locations).orderBy(locations.rank, locations.id);
}
