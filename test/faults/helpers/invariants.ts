/**
 * The invariants every fault test checks afterwards, straight from the tables (DESIGN.md
 * "Invariants"). Each check returns counts; a test asserts the counts are zero and writes them to
 * its report. Nothing here trusts the service: it reads Postgres directly.
 */
import postgres from 'postgres';
import type { Acked } from './load.js';
import { sleep } from './scale.js';

export interface InvariantReport {
  /** acknowledged 201s whose reservation is missing, duplicated, or has another id */
  acknowledgedLost: number;
  /** acknowledged 201s whose allocations in the database differ from what the client was told */
  acknowledgedDiffer: number;
  /** reservations sharing one caller + Idempotency-Key */
  duplicateKeys: number;
  /** reservations without their stored idempotent response (the two are written atomically) */
  reservationsWithoutKey: number;
  /** lines whose allocations add up to more (duplicate) or less than the line quantity */
  linesOverAllocated: number;
  linesUnderAllocated: number;
  /** positions where reserved != Σ active on-hand allocations */
  reservedMismatch: number;
  /** positions where Σ ledger deltas != onHand */
  ledgerOnHandMismatch: number;
  /** positions where seeded onHand − Σ shipped != onHand (only when seeded counts are given) */
  shippedMismatch: number;
  /** Σ max(0, reserved + qualityHold − onHand) */
  unitsOversold: number;
  /** channel holds that differ from Σ active allocations of that channel */
  channelHoldMismatch: number;
  /** settled reservations still holding units, or held ones holding none */
  statusMismatch: number;
  positions: number;
  reservations: number;
  details: string[];
}

export async function checkInvariants(
  url: string,
  opts: { caller?: string; acked?: Iterable<Acked>; seeded?: Map<string, number> } = {},
): Promise<InvariantReport> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const details: string[] = [];
  const note = (s: string) => details.length < 30 && details.push(s);
  try {
    const caller = opts.caller ?? 'anonymous';
    const acked = [...(opts.acked ?? [])];

    let acknowledgedLost = 0;
    let acknowledgedDiffer = 0;
    if (acked.length > 0) {
      const keys = acked.map((a) => ({ key: a.key, id: a.body.id }));
      const rows = await sql<{ key: string; id: string; by_key: number; by_id: number; same: boolean | null }[]>`
        select k.key, k.id::text as id, count(r.id)::int as by_key,
               (select count(*) from reservations r2 where r2.id = k.id)::int as by_id,
               bool_and(r.id = k.id) as same
        from jsonb_to_recordset(${sql.json(keys)}) as k(key text, id uuid)
        left join reservations r on r.caller = ${caller} and r.idempotency_key = k.key
        group by k.key, k.id`;
      for (const r of rows) {
        if (r.by_key !== 1 || r.by_id !== 1 || r.same !== true) {
          acknowledgedLost++;
          note(`acknowledged ${r.key} → ${r.id}: ${r.by_key} by key, ${r.by_id} by id`);
        }
      }
      const alloc = await sql<{ id: string; sku: string; location: string; supply: string | null; total: number }[]>`
        select reservation_id::text as id, sku, location, supply_id::text as supply, sum(qty + committed_qty + released_qty)::int as total
        from allocations where reservation_id in (select (jsonb_array_elements_text(${sql.json(keys.map((k) => k.id))}))::uuid)
        group by 1, 2, 3, 4`;
      const inDb = new Map<string, number>();
      for (const a of alloc) inDb.set(`${a.id}|${a.sku}|${a.location}|${a.supply ?? ''}`, a.total);
      for (const a of acked) {
        const told = new Map<string, number>();
        for (const l of a.body.lines)
          for (const x of l.allocations) {
            const k = `${a.body.id}|${l.sku}|${x.location}|${x.supplyId ?? ''}`;
            told.set(k, (told.get(k) ?? 0) + x.qty);
          }
        const mine = [...inDb.keys()].filter((k) => k.startsWith(`${a.body.id}|`));
        const same = mine.length === told.size && [...told].every(([k, q]) => inDb.get(k) === q);
        if (!same) {
          acknowledgedDiffer++;
          note(`acknowledged ${a.key}: told ${JSON.stringify([...told])}, database ${JSON.stringify(mine.map((k) => [k, inDb.get(k)]))}`);
        }
      }
    }

    const [dup] = await sql<{ n: number }[]>`
      select count(*)::int as n from (select caller, idempotency_key from reservations group by 1, 2 having count(*) > 1) d`;
    const [nokey] = await sql<{ n: number }[]>`
      select count(*)::int as n from reservations r where r.idempotency_key is null or r.fingerprint is null or r.answer is null`;
    const lines = await sql<{ id: string; line_no: number; qty: number; alloc: number }[]>`
      select l.reservation_id::text as id, l.line_no, l.qty, coalesce(sum(a.qty + a.committed_qty + a.released_qty), 0)::int as alloc
      from reservation_lines l left join allocations a on a.reservation_id = l.reservation_id and a.line_no = l.line_no
      where l.status in ('allocated', 'backordered')
      group by 1, 2, 3 having coalesce(sum(a.qty + a.committed_qty + a.released_qty), 0) <> l.qty`;
    for (const l of lines) note(`line ${l.id}#${l.line_no}: qty ${l.qty}, allocated ${l.alloc}`);

    const positions = await sql<
      { sku: string; location: string; on_hand: number; reserved: number; quality_hold: number; active: number; shipped: number; l_on_hand: number }[]
    >`
      select p.sku, p.location, p.on_hand, p.reserved, p.quality_hold,
        coalesce((select sum(a.qty) from allocations a where a.sku = p.sku and a.location = p.location and a.supply_id is null), 0)::int as active,
        coalesce((select sum(a.committed_qty) from allocations a where a.sku = p.sku and a.location = p.location and a.supply_id is null), 0)::int as shipped,
        coalesce((select sum(g.delta_on_hand) from ledger g where g.sku = p.sku and g.location = p.location), 0)::int as l_on_hand
      from positions p order by 1, 2`;
    let reservedMismatch = 0;
    let ledgerOnHandMismatch = 0;
    let shippedMismatch = 0;
    let unitsOversold = 0;
    for (const p of positions) {
      const at = `${p.sku}@${p.location}`;
      if (p.reserved !== p.active) (reservedMismatch++, note(`${at}: reserved ${p.reserved}, active allocations ${p.active}`));
      if (p.on_hand !== p.l_on_hand) (ledgerOnHandMismatch++, note(`${at}: onHand ${p.on_hand}, ledger ${p.l_on_hand}`));
      unitsOversold += Math.max(0, p.reserved + p.quality_hold - p.on_hand);
      const seeded = opts.seeded?.get(at);
      if (seeded !== undefined && seeded - p.shipped !== p.on_hand) (shippedMismatch++, note(`${at}: seeded ${seeded} − shipped ${p.shipped} ≠ onHand ${p.on_hand}`));
    }

    const holds = await sql<{ sku: string; channel: string; reserved: number; active: number }[]>`
      with act as (select a.sku, r.channel, sum(a.qty)::int as active from allocations a join reservations r on r.id = a.reservation_id group by 1, 2)
      select coalesce(h.sku, act.sku) as sku, coalesce(h.channel, act.channel) as channel, coalesce(h.reserved, 0) as reserved, coalesce(act.active, 0) as active
      from channel_holds h full join act on act.sku = h.sku and act.channel = h.channel
      where coalesce(h.reserved, 0) <> coalesce(act.active, 0)`;
    for (const h of holds) note(`channel hold ${h.sku}/${h.channel}: ${h.reserved}, active ${h.active}`);

    const [status] = await sql<{ n: number }[]>`
      select count(*)::int as n from reservations r
      where (r.status <> 'held' and exists (select 1 from allocations a where a.reservation_id = r.id and a.qty > 0))
         or (r.status = 'held' and not exists (select 1 from allocations a where a.reservation_id = r.id and a.qty > 0))`;
    const [count] = await sql<{ n: number }[]>`select count(*)::int as n from reservations`;

    return {
      acknowledgedLost,
      acknowledgedDiffer,
      duplicateKeys: dup!.n,
      reservationsWithoutKey: nokey!.n,
      linesOverAllocated: lines.filter((l) => l.alloc > l.qty).length,
      linesUnderAllocated: lines.filter((l) => l.alloc < l.qty).length,
      reservedMismatch,
      ledgerOnHandMismatch,
      shippedMismatch,
      unitsOversold,
      channelHoldMismatch: holds.length,
      statusMismatch: status!.n,
      positions: positions.length,
      reservations: count!.n,
      details,
    };
  } finally {
    await sql.end();
  }
}

/** Every count that must be zero, by name (for one expect with a readable diff). */
export function violations(r: InvariantReport): Record<string, number> {
  const { positions: _p, reservations: _r, details: _d, ...counts } = r;
  return Object.fromEntries(Object.entries(counts).filter(([, v]) => v !== 0));
}

/**
 * Wait until no hold is past its expiry (the service's own sweeper releases them); returns how
 * many are still overdue at the end of the bound (must be 0).
 */
export async function waitForExpiry(url: string, boundMs: number): Promise<{ overdue: number; expired: number }> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const started = Date.now();
    for (;;) {
      const [r] = await sql<{ overdue: number; expired: number }[]>`
        select count(*) filter (where status = 'held' and expires_at <= now())::int as overdue,
               count(*) filter (where status = 'expired')::int as expired from reservations`;
      if (r!.overdue === 0 || Date.now() - started > boundMs) return r!;
      await sleep(200);
    }
  } finally {
    await sql.end();
  }
}
