/**
 * The guarded batch: a hot lane's batch as ONE autocommit statement (no BEGIN, no lock round trip,
 * no COMMIT round trip), decided on the lane's PREDICTED positions — what the lane's last batch
 * left — instead of positions read under a lock.
 *
 * Why it is safe whatever the prediction was worth (docs/ARCHITECTURE.md, "Batches in flight"):
 * - it only ever accepts. A batch whose decision refuses anything, backorders, or would take a
 *   SKU to zero available is not tried here: `reserveBatch` (locks, decides on confirmed state)
 *   takes it. A 409 is never answered from a prediction;
 * - the statement's guards encode every rule the acceptances relied on, evaluated by Postgres on
 *   the newest row version (READ COMMITTED re-check after a lock wait): each updated position keeps
 *   available ≥ 0 and has no reorder point (crossings are emitted by the locked path); each SKU
 *   keeps total available > 0 (no sold-out crossing happens unseen) and, when a protection floor
 *   applied, ≥ that floor with the total onHand the floor was computed from; each capped channel
 *   (decided on the hold the lane last saw) holds at most its cap after the statement, with the
 *   onHand a share cap was computed from. Acceptances stay valid
 *   when the real state has MORE available than predicted (a release, a restock): availability only
 *   ever helped them. When a guard fails, the final select divides by zero, the whole statement
 *   (reservations included) is undone, and the batch is re-decided under locks;
 * - Idempotency-Keys: the reservations insert skips keys stored by any verb and is
 *   `on conflict (caller, key) do nothing` (its lines ride on its row); allocations, position deltas and events are
 *   written only for the rows actually inserted, so a duplicate never aborts the rest of the batch
 *   and is answered from its stored answer (replay or 422) after the statement.
 * Lock order: the statement's final select reads the position update, so positions are locked
 * before the channel_holds rows (written by a CTE nothing reads, run after it), as on the locked path.
 * Time: the statement's own instant (db/clock.ts `nowSql`): created/updated/expires columns, the
 * stored answer (its placeholders replaced in SQL), the event and the 201 all carry that one value.
 * Errors: a failed guard, a deadlock or a serialization failure return `undefined` (re-decide
 * under locks); anything else is thrown as `reserveBatch` would (503 for outages and timeouts).
 */
import { reservationCreatedRows } from '../../events/outbox.js';
import { type JsonText, jsonText } from '../../contract/json-text.js';
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { Clock } from '../../db/clock.js';
import { type Db, query } from '../../db/client.js';
import { errorCode, mapDatabaseError } from '../../db/errors.js';
import { pgArray } from '../../db/pg-array.js';
import { availableOf, decideBatch, holdKey } from '../../domain/allocate.js';
import { hasCap, policyFor } from '../../rules/policy.js';
import type { RulesDocument } from '../../contract/rules.js';
import { reservationDto, type ReservationDto, storedLines } from './dto.js';
import { findStored, replayBarrier } from '../idempotency.js';
import { answerStored, type BatchReport, type LanePosition, type ReserveResult, reserveBatch } from './reserve.js';
import { type ReserveCommand, reservationRows } from './reserve-statement.js';

const STAMP = '@@T@@';
const EXPIRES = '@@E@@';
const EPOCH = new Date(0);
/** raised by the final select when a guard failed: the statement (all of it) is undone */
const GUARD_FAILED = '22012';

/** Why a batch was not decided here (counted in /metrics by the caller). */
export type GuardedSkip = 'no-prediction' | 'not-eligible' | 'refuses' | 'sells-out' | 'guard-failed';

export type GuardedOutcome = { ok: true; report: BatchReport } | { ok: false; skip: GuardedSkip };

/**
 * Decide `cmds` on `predicted` (every position of their SKUs, as the lane last left them) and
 * write the accepted batch in one guarded statement. See the file header for the contract.
 */
export async function reserveGuarded(
  db: Db,
  rules: RulesDocument,
  cmds: readonly ReserveCommand[],
  lane: { positions: readonly LanePosition[]; holds: ReadonlyMap<string, number> } | undefined,
  clock?: Clock,
  /** told what this batch will leave as soon as it is decided, before its statement is sent: the next batch of the lane may decide on it (batches in flight) */
  onDecided?: (after: LanePosition[], holds: Map<string, number>) => void,
): Promise<GuardedOutcome> {
  const predicted = lane?.positions;
  if (!predicted || predicted.length === 0) return { ok: false, skip: 'no-prediction' };
  if (cmds.some((c) => c.allowBackorder)) return { ok: false, skip: 'not-eligible' };
  if (predicted.some((p) => p.reorderPoint !== null)) return { ok: false, skip: 'not-eligible' };
  const skus = [...new Set(cmds.flatMap((c) => c.lines.map((l) => l.sku)))].sort();
  if (skus.some((sku) => !predicted.some((p) => p.sku === sku))) return { ok: false, skip: 'no-prediction' };
  // capped channels decide on what the lane last saw them hold; the statement's guard checks the real figure
  const capped = [...new Set(cmds.flatMap((c) => c.lines.filter((l) => hasCap(rules, l.sku, c.channel)).map((l) => holdKey(l.sku, c.channel))))];
  if (capped.some((k) => !lane.holds.has(k))) return { ok: false, skip: 'no-prediction' };

  const decision = decideBatch({ positions: predicted.map((p) => ({ ...p })), holds: new Map(capped.map((k) => [k, lane.holds.get(k)!])) }, rules, cmds);
  if (decision.outcomes.some((o) => !o.ok)) return { ok: false, skip: 'refuses' };
  const totals = new Map<string, { avail: number; onHand: number }>();
  for (const p of decision.positions) {
    const t = totals.get(p.sku) ?? { avail: 0, onHand: 0 };
    t.avail += availableOf(p);
    t.onHand += p.onHand;
    totals.set(p.sku, t);
  }
  if (skus.some((sku) => (totals.get(sku)?.avail ?? 0) <= 0)) return { ok: false, skip: 'sells-out' };

  // the protection floor each SKU must keep: the largest of the accepted channels' (lowest tier)
  const floor = new Map<string, number>(skus.map((s) => [s, 0]));
  const protectedSkus = new Set<string>();
  // the most each capped channel may hold after the batch: its cap for the onHand it was computed from
  const caps = new Map<string, number>();
  for (const c of cmds)
    for (const l of c.lines) {
      const policy = policyFor(rules, l.sku, c.channel);
      const onHand = totals.get(l.sku)!.onHand;
      floor.set(l.sku, Math.max(floor.get(l.sku)!, policy.protectedUnits(onHand)));
      if (policy.protectedUnits(Number.MAX_SAFE_INTEGER) > 0) protectedSkus.add(l.sku);
      const k = holdKey(l.sku, c.channel);
      if (capped.includes(k)) {
        caps.set(k, policy.cap(onHand));
        protectedSkus.add(l.sku);
      }
    }
  const afterHolds = new Map(capped.map((k) => [k, decision.holds.get(k) ?? 0]));

  onDecided?.(
    decision.positions.map((p) => ({ ...p, reorderPoint: null })),
    afterHolds,
  );
  const b = new GuardedWrites();
  const bodies = cmds.map((c, i) => {
    const outcome = decision.outcomes[i]!;
    return b.add(c, rules.version, outcome.ok ? outcome.lines : []);
  });
  let row: { at: string; inserted: string[]; positions: [string, string, number, number, number, number, number][]; holds: [string, string, number][] | null } | undefined;
  try {
    [row] = await query<NonNullable<typeof row>>(db, b.statement(skus, floor, protectedSkus, totals, caps, rules.version, clock));
  } catch (err) {
    const code = errorCode(err);
    if (code === GUARD_FAILED || code === '40P01' || code === '40001') return { ok: false, skip: 'guard-failed' };
    throw mapDatabaseError(err) ?? err;
  }
  const at = row!.at;
  const inserted = new Set(row!.inserted);
  const results: ReserveResult[] = new Array(cmds.length);
  const duplicates: number[] = [];
  cmds.forEach((_, i) => {
    const { body, template } = bodies[i]!;
    if (!inserted.has(body.id)) return duplicates.push(i);
    body.createdAt = at;
    body.updatedAt = at;
    if (body.expiresAt !== null) body.expiresAt = new Date(Date.parse(at) + cmds[i]!.holdSeconds! * 1000).toISOString();
    results[i] = { ok: true, result: { reservation: body, replayed: false, json: stamped(template, at, body.expiresAt) } };
  });
  if (duplicates.length > 0) {
    // The statement has committed: from here on a failure is the answer of the duplicates only,
    // never of the reservations just written (they were acknowledged by the commit).
    try {
      await answerDuplicates(db, rules, cmds, duplicates, results, clock);
    } catch (err) {
      const error = (mapDatabaseError(err) ?? err) as never;
      for (const i of duplicates) results[i] ??= { ok: false, error };
    }
  }
  const after: LanePosition[] = row!.positions.map(([sku, location, rank, onHand, reserved, qualityHold, safetyStock]) => ({
    sku,
    location,
    rank,
    onHand,
    reserved,
    qualityHold,
    safetyStock,
    reorderPoint: null,
  }));
  const skusAfter = skus.map((sku) => ({ sku, available: after.filter((p) => p.sku === sku).reduce((s, p) => s + availableOf(p), 0) }));
  const holdsNow = new Map((row!.holds ?? []).map(([sku, channel, reserved]) => [holdKey(sku, channel), reserved]));
  return { ok: true, report: { results, skus: skusAfter, after, afterHolds: new Map(capped.map((k) => [k, holdsNow.get(k) ?? afterHolds.get(k)!])) } };
}

/**
 * Keys that were not inserted (stored before by any verb, or concurrently): answered from what is
 * stored (replay, made durable first, or 422); a key whose other writer rolled back since is
 * decided under locks.
 */
async function answerDuplicates(db: Db, rules: RulesDocument, cmds: readonly ReserveCommand[], duplicates: readonly number[], results: ReserveResult[], clock: Clock | undefined): Promise<void> {
  const stored = await findStored(db, duplicates.map((i) => ({ caller: cmds[i]!.caller, key: cmds[i]!.idempotencyKey })));
  const again = answerStored(stored, cmds, duplicates, results);
  if (duplicates.some((i) => results[i]?.ok)) await replayBarrier(db);
  if (again.length > 0) {
    const rep = await reserveBatch(db, rules, again.map((i) => cmds[i]!), undefined, clock);
    again.forEach((i, k) => (results[i] = rep.results[k]!));
  }
}

/**
 * The stored answer's text from its template: the same replacements the statement makes in SQL
 * (`answer` column), so the 201 is the stored first answer byte for byte without serialising the
 * reservation a second time (test: test/idempotency.replay-bytes.test.ts).
 */
function stamped(template: JsonText<ReservationDto>, at: string, expiresAt: string | null): JsonText<ReservationDto> {
  const t = template.replace(`"createdAt":"${STAMP}"`, `"createdAt":"${at}"`).replace(`"updatedAt":"${STAMP}"`, `"updatedAt":"${at}"`);
  // the same reservation with its instants filled in: still the text of a ReservationDto
  return (expiresAt === null ? t : t.replace(`"expiresAt":"${EXPIRES}"`, `"expiresAt":"${expiresAt}"`)) as JsonText<ReservationDto>;
}

/** The rows of one guarded batch, column by column (one bound array per column); each reservation's lines ride on its row. */
class GuardedWrites {
  private r = { id: [] as string[], orderRef: [] as string[], channel: [] as string[], hold: [] as (number | null)[], caller: [] as string[], key: [] as string[], fingerprint: [] as string[], answer: [] as string[], lines: [] as string[] };
  private a = { rid: [] as string[], lineNo: [] as number[], sku: [] as string[], location: [] as string[], qty: [] as number[] };

  /** One accepted reservation; returns its answer with the time fields still to be stamped. */
  add(cmd: ReserveCommand, rulesVersion: number, planned: Parameters<typeof reservationRows>[1]): { body: ReservationDto; template: JsonText<ReservationDto> } {
    const id = randomUUID();
    const { lineRows, allocRows } = reservationRows(cmd, planned);
    const body = reservationDto(
      { id, order_ref: cmd.orderRef, channel: cmd.channel, status: 'held', expires_at: null, rules_version: rulesVersion, created_at: EPOCH, updated_at: EPOCH },
      lineRows,
      allocRows,
    );
    body.createdAt = STAMP;
    body.updatedAt = STAMP;
    body.expiresAt = cmd.holdSeconds ? EXPIRES : null;
    const r = this.r;
    r.id.push(id);
    r.orderRef.push(cmd.orderRef);
    r.channel.push(cmd.channel);
    r.hold.push(cmd.holdSeconds ?? null);
    r.caller.push(cmd.caller);
    r.key.push(cmd.idempotencyKey);
    r.fingerprint.push(cmd.fingerprint);
    const template = jsonText(body);
    r.answer.push(template);
    r.lines.push(storedLines(lineRows));
    for (const x of allocRows) {
      this.a.rid.push(id);
      this.a.lineNo.push(x.line_no);
      this.a.sku.push(x.sku);
      this.a.location.push(x.location);
      this.a.qty.push(x.qty);
    }
    return { body, template };
  }

  /**
   * The statement: stamp, insert what is new, move the positions under their guards, and divide by
   * zero in the final select when a guard failed (the whole statement is then undone).
   */
  statement(
    skus: readonly string[],
    floor: ReadonlyMap<string, number>,
    protectedSkus: ReadonlySet<string>,
    totals: ReadonlyMap<string, { onHand: number }>,
    caps: ReadonlyMap<string, number>,
    rulesVersion: number,
    clock: Clock | undefined,
  ) {
    const { r, a } = this;
    const iso = (ts: ReturnType<typeof sql>) => sql`to_char(${ts} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
    const floors = skus.map((s) => floor.get(s) ?? 0);
    const onHands = skus.map((s) => totals.get(s)?.onHand ?? 0);
    // a floor that depends on onHand (even one that rounds to 0 today) holds only for the onHand it was computed from
    const guardedOnHand = skus.map((s) => (protectedSkus.has(s) ? "t" : "f"));
    const capKeys = [...caps.keys()].map((k) => k.split('\u0000') as [string, string]);
    const capLimits = [...caps.values()].map((v) => (Number.isFinite(v) ? v : 2147483647));
    return sql`with
      ts as (select t.at, ${iso(sql`t.at`)} as iso from (select ${clock ? sql`${clock.now().toISOString()}::timestamptz` : sql`date_trunc('milliseconds', now())`} as at) t),
      d as (select d.*, ts.at + make_interval(secs => d.hold) as expires_at
            from unnest(${pgArray(r.id)}::uuid[], ${pgArray(r.orderRef)}::text[], ${pgArray(r.channel)}::text[], ${pgArray(r.hold)}::int[], ${pgArray(r.caller)}::text[],
                        ${pgArray(r.key)}::text[], ${pgArray(r.fingerprint)}::text[], ${pgArray(r.answer)}::text[], ${pgArray(r.lines)}::jsonb[])
                 as d(id, order_ref, channel, hold, caller, key, fingerprint, answer, lines), ts),
      r as (insert into reservations (id, order_ref, channel, status, hold_seconds, expires_at, rules_version, caller, idempotency_key, fingerprint, answer, lines, created_at, updated_at)
            select d.id, d.order_ref, d.channel, 'held', d.hold, d.expires_at, ${rulesVersion}::int, d.caller, d.key, d.fingerprint,
                   (case when d.hold is null then x.stamped
                         else replace(x.stamped, ${`"expiresAt":"${EXPIRES}"`}, '"expiresAt":"' || ${iso(sql`d.expires_at`)} || '"') end)::json,
                   d.lines, ts.at, ts.at
            from d cross join ts
            cross join lateral (select replace(replace(d.answer, ${`"createdAt":"${STAMP}"`}, '"createdAt":"' || ts.iso || '"'),
                                               ${`"updatedAt":"${STAMP}"`}, '"updatedAt":"' || ts.iso || '"') as stamped) x
            where not exists (select 1 from idempotency_keys k where k.caller = d.caller and k.key = d.key)
            on conflict (caller, idempotency_key) do nothing
            returning id),
      al as (select x.* from unnest(${pgArray(a.rid)}::uuid[], ${pgArray(a.lineNo)}::int[], ${pgArray(a.sku)}::text[], ${pgArray(a.location)}::text[], ${pgArray(a.qty)}::int[])
                 as x(rid, line_no, sku, location, qty)
             where x.rid in (select id from r)),
      a as (insert into allocations (reservation_id, line_no, sku, location, qty, committed_qty, released_qty, created_at)
            select al.rid, al.line_no, al.sku, al.location, al.qty, 0, 0, ts.at from al, ts returning 1),
      w as (select sku, location, sum(qty)::int as delta from al group by sku, location),
      lk as materialized (select s.sku, s.location, s.on_hand, s.reserved, s.quality_hold, s.safety_stock from positions s
            where s.sku = any(${pgArray(skus)}::text[]) order by s.sku, s.location for update),
      p as (update positions t set reserved = t.reserved + w.delta, updated_at = ts.at
            from w, ts
            where (select count(*) from lk) >= 0
              and t.sku = w.sku and t.location = w.location and t.reorder_point is null
              and t.on_hand - t.reserved - t.quality_hold - t.safety_stock - w.delta >= 0
            returning t.sku, t.location, t.on_hand, t.reserved, t.quality_hold, t.safety_stock),
      h as (insert into channel_holds (sku, channel, reserved)
            select al.sku, d.channel, sum(al.qty)::int from al join d on d.id = al.rid group by al.sku, d.channel
            on conflict (sku, channel) do update set reserved = channel_holds.reserved + excluded.reserved returning sku, channel, reserved),
      hc as (select h.sku, h.channel, h.reserved, q.cap from h
             join unnest(${pgArray(capKeys.map((k) => k[0]))}::text[], ${pgArray(capKeys.map((k) => k[1]))}::text[], ${pgArray(capLimits)}::int[]) as q(sku, channel, cap)
               on q.sku = h.sku and q.channel = h.channel),
      o as (${reservationCreatedRows(sql`select r.id, ts.at from r, ts`)} returning 1),
      cur as (select p.sku, p.location, p.on_hand, p.reserved, p.quality_hold, p.safety_stock from p
              union all
              select k.sku, k.location, k.on_hand, k.reserved, k.quality_hold, k.safety_stock from lk k
              where not exists (select 1 from p where p.sku = k.sku and p.location = k.location)),
      g as (select sku, sum(greatest(0, on_hand - reserved - quality_hold - safety_stock))::int as avail, sum(on_hand)::int as on_hand from cur group by sku),
      bad as (select (select count(*)::int
                from unnest(${pgArray(skus)}::text[], ${pgArray(floors)}::int[], ${pgArray(onHands)}::int[], ${pgArray(guardedOnHand)}::boolean[]) as q(sku, floor, on_hand, guarded)
                left join g using (sku)
                where g.avail is null or g.avail <= 0 or (q.guarded and (g.on_hand <> q.on_hand or g.avail < q.floor)))
              -- caps, read after the positions above were locked and checked (lock order: positions, then holds)
              + (select count(*)::int from hc where hc.reserved > hc.cap) as n)
      select 1 / (case when (select count(*) from p) = (select count(*) from w) and (select n from bad) = 0 then 1 else 0 end) as ok,
             (select iso from ts) as at,
             (select coalesce(json_agg(id::text), '[]') from r) as inserted,
             (select json_agg(json_build_array(c.sku, c.location, loc.rank, c.on_hand, c.reserved, c.quality_hold, c.safety_stock) order by c.sku, c.location)
                from cur c join locations loc on loc.id = c.location) as positions,
             (select json_agg(json_build_array(sku, channel, reserved)) from hc) as holds`;
  }
}
