/**
 * Short picks: a picker found fewer units than the system expected. The found count is the
 * truth: onHand moves by (foundQty − expectedQty) (never below 0) with a `short-pick` ledger row.
 * If the position is now over-committed (reserved + qualityHold > onHand), quality-held units go
 * first (they are promised to nobody), then reservations lose their units there: the picked
 * reservation first, then the others lowest priority tier first, newest first. Each loser is
 * re-planned exactly as a new backorder-allowed line of its channel would be (replan): stock at
 * another location the channel may use, else inbound supply with a promise date, else short.
 * One outbox event per affected reservation (allocation.resourced / backorder.promised /
 * allocation.short) plus `shortpick.recorded` and `inventory.adjusted`.
 *
 * Concurrency: the losers are estimated without locks, their reservations locked (by id), then
 * every position of the SKU and its open supply (global lock order); the losers are computed
 * again under the locks and the transaction retries if one was not locked.
 * Errors: 404 unknown position or reservation. A reservationId that holds nothing at the location
 * only changes who loses first (nobody in particular); the count is recorded either way.
 */
import { pgArray } from '../../db/pg-array.js';
import { recordLedger } from '../ledger.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { query, type Tx } from '../../db/client.js';
import { RetryTransaction } from '../../db/tx.js';
import type { PositionState } from '../../domain/allocate.js';
import { NotFound } from '../../domain/errors.js';
import { replan } from '../../domain/replan.js';
import { tierOf } from '../../rules/policy.js';
import type { RulesDocument } from '../../contract/rules.js';
import { stockChangeEvents, stockSnapshot } from '../../events/stock.js';
import { emit } from '../../events/outbox.js';
import type { ShortPickResult } from '../../contract/supply.js';
import type { ShortPickRequest } from '../../contract/supply.js';
import { positionDto } from '../../reads/positions.js';
import { type ActiveAlloc, activeAllocations, applyReplan, giveBack } from '../supply/replan-apply.js';
import { loadState } from '../supply/supply-state.js';

/** A short pick as requested (contract/supply.ts ShortPickRequest); the reconciliation sends the same. */
export type ShortPickInput = ShortPickRequest;

interface Plan {
  newOnHand: number;
  holdCut: number;
  losers: { alloc: ActiveAlloc; displaced: number }[];
}

/** Who loses what, given the position and its active on-hand allocations. */
function decideLosers(p: PositionState, allocs: readonly ActiveAlloc[], input: ShortPickInput, rules: RulesDocument): Plan {
  const newOnHand = Math.max(0, p.onHand + input.foundQty - input.expectedQty);
  let over = p.reserved + p.qualityHold - newOnHand;
  const holdCut = Math.max(0, Math.min(p.qualityHold, over));
  over -= holdCut;
  const order = [...allocs].sort(
    (x, y) =>
      Number(y.reservation_id === input.reservationId) - Number(x.reservation_id === input.reservationId) ||
      tierOf(rules, y.channel) - tierOf(rules, x.channel) ||
      new Date(y.res_created_at).getTime() - new Date(x.res_created_at).getTime() ||
      Number(y.id) - Number(x.id),
  );
  const losers: Plan['losers'] = [];
  for (const a of order) {
    if (over <= 0) break;
    const d = Math.min(a.qty, over);
    losers.push({ alloc: a, displaced: d });
    over -= d;
  }
  return { newOnHand, holdCut, losers };
}

/** Book a short pick and re-plan the reservations it strands (see the file header); everything is stamped `at`, the transaction's instant. */
export async function recordShortPick(tx: Tx, input: ShortPickInput, rules: RulesDocument, actor: string, at: Date): Promise<ShortPickResult> {
  const now = sql`${at.toISOString()}::timestamptz`;
  const where = sql`a.sku = ${input.sku} and a.location = ${input.location} and a.supply_id is null`;
  if (input.reservationId) {
    const [r] = await query<{ id: string }>(tx, sql`select id from reservations where id = ${input.reservationId}`);
    if (!r) throw new NotFound('reservation', input.reservationId);
  }
  // 1. estimate the losers without locks
  const [p0] = await loadState(tx, [input.sku], { lock: false, at }).then((s) => s.positions.filter((p) => p.location === input.location));
  if (!p0) throw new NotFound('position', `${input.sku}@${input.location}`);
  const guess = decideLosers(p0, await activeAllocations(tx, where), input, rules);
  const lockIds = [...new Set([...guess.losers.map((l) => l.alloc.reservation_id), ...(input.reservationId ? [input.reservationId] : [])])].sort();
  // 2. lock: reservations → positions → supply
  if (lockIds.length > 0) await query(tx, sql`select id from reservations where id = any(${pgArray(lockIds)}::uuid[]) order by id for update`);
  const state = await loadState(tx, [input.sku], { lock: true, at });
  const pos = state.positions.find((p) => p.location === input.location)!;
  const before = { ...pos };
  const stockBefore = await stockSnapshot(tx, [input.sku]);
  // 3. decide again on the locked rows
  const plan = decideLosers(pos, await activeAllocations(tx, where), input, rules);
  const locked = new Set(lockIds);
  if (plan.losers.some((l) => !locked.has(l.alloc.reservation_id))) throw new RetryTransaction('short pick: the losers changed while locking');

  pos.onHand = plan.newOnHand;
  pos.qualityHold -= plan.holdCut;
  giveBack(state, plan.losers);
  // re-source the highest priority (then oldest) first
  const serve = [...plan.losers].sort(
    (x, y) => tierOf(rules, x.alloc.channel) - tierOf(rules, y.alloc.channel) || new Date(x.alloc.res_created_at).getTime() - new Date(y.alloc.res_created_at).getTime(),
  );
  const replanned = replan(
    state,
    rules,
    serve.map((l) => ({ ref: l.alloc.id, channel: l.alloc.channel, sku: l.alloc.sku, qty: l.displaced, location: l.alloc.pin ?? undefined })),
  );
  const id = randomUUID();
  const extra = { shortPickId: id, sku: input.sku, location: input.location, note: input.reason };
  const affected = await applyReplan(
    tx,
    serve.map((l, k) => ({ ...l, plan: replanned.results[k]! })),
    'short-pick',
    actor,
    at,
    extra,
    'backorder.promised',
  );
  // the count: onHand and quality hold (reserved there already went down with the losers)
  await query(
    tx,
    sql`update positions set on_hand = ${plan.newOnHand}, quality_hold = quality_hold - ${plan.holdCut}, updated_at = ${now}
        where sku = ${input.sku} and location = ${input.location}`,
  );
  await recordLedger(tx, [{ sku: input.sku, location: input.location, deltaOnHand: plan.newOnHand - before.onHand, reason: 'short-pick', reservationId: input.reservationId ?? null, ref: `short-pick:${id}` }], actor, at);
  const [after] = await query<{ on_hand: number; reserved: number; quality_hold: number; safety_stock: number }>(
    tx,
    sql`select on_hand, reserved, quality_hold, safety_stock from positions where sku = ${input.sku} and location = ${input.location}`,
  );
  const afterState: PositionState = { ...before, onHand: after!.on_hand, reserved: after!.reserved, qualityHold: after!.quality_hold, safetyStock: after!.safety_stock };
  const body = {
    id,
    sku: input.sku,
    location: input.location,
    expectedQty: input.expectedQty,
    foundQty: input.foundQty,
    reservationId: input.reservationId ?? null,
    reason: input.reason,
    position: { before: positionDto(before), after: positionDto(afterState) },
    qualityHoldWrittenOff: plan.holdCut,
    affected: affected.map((a) => ({ reservationId: a.reservationId, kind: a.kind, moves: a.moves })),
  };
  await query(
    tx,
    sql`insert into short_picks (id, sku, location, expected_qty, found_qty, reservation_id, reason, actor, outcome, created_at)
        values (${id}, ${input.sku}, ${input.location}, ${input.expectedQty}, ${input.foundQty}, ${input.reservationId ?? null}, ${input.reason}, ${actor}, ${JSON.stringify(body)}::jsonb, ${now})`,
  );
  await emit(tx, [
    { type: 'inventory.adjusted', subject: `${input.sku}@${input.location}`, data: { before: positionDto(before), after: positionDto(afterState), reason: 'short-pick', shortPickId: id } },
    { type: 'shortpick.recorded', subject: `${input.sku}@${input.location}`, data: body },
    ...(await stockChangeEvents(tx, stockBefore, at)),
  ], at);
  return body;
}
