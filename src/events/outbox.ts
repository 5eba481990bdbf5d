/**
 * The one outbox writer: events go to the outbox in the transaction of the change they announce
 * (the relay publishes them once it has committed, src/events/relay.ts). Every insert into
 * `outbox` is built here — as a statement of its own (`emit`) or as a data-modifying CTE of the
 * writer's one statement (`outboxInsert`, `reservationCreatedRows`) — so its columns, the list
 * idiom (`unnest` over typed arrays) and the reference rows of `reservation.created` have one
 * definition.
 */
import { type SQL, sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import { pgArray } from '../db/pg-array.js';
import type { OutboxEvent } from './types.js';

/**
 * `reservation.created` by reference: `data` NULL, the event's data is the reservation's immutable
 * stored answer, which the view `outbox_event` reads (migration 0008; CHECK outbox_data_or_reference).
 */
export interface ReservationCreatedRef {
  type: 'reservation.created';
  subject: string;
  data: null;
}

/**
 * The insert of `rows` (in this order) stamped `at` (each event's `time`), for a writer's own
 * statement (`o as (${outboxInsert(…)} returning 1)`). Pure: builds SQL, sends nothing.
 */
export function outboxInsert(rows: readonly (OutboxEvent | ReservationCreatedRef)[], at: Date): SQL {
  return sql`insert into outbox (type, subject, data, created_at)
    select d.type, d.subject, d.data, ${at.toISOString()}::timestamptz
    from unnest(${pgArray(rows.map((e) => e.type))}::text[], ${pgArray(rows.map((e) => e.subject))}::text[],
                ${pgArray(rows.map((e) => (e.data === null ? null : JSON.stringify(e.data))))}::jsonb[])
         with ordinality as d(type, subject, data, n)
    order by d.n`;
}

/**
 * `reservation.created` for the reservations a statement inserts: one row per `(id, at)` that
 * `inserted` selects, with `data` NULL — the event refers to the reservation's immutable stored
 * answer, which the view `outbox_event` reads (migration 0008). Pure: builds SQL.
 */
export function reservationCreatedRows(inserted: SQL): SQL {
  return sql`insert into outbox (type, subject, data, created_at)
    select 'reservation.created', x.id::text, null, x.at from (${inserted}) as x(id, at)`;
}

/**
 * Write events to the outbox in the caller's transaction (build them with `outboxEvent`,
 * src/contract/events.ts); `at`, the transaction's instant, is each event's `time`.
 * Concurrency: one insert in `tx`, no locks of its own. Errors: rejects with the driver's error
 * (the caller's transaction fails; db/errors.ts maps it).
 */
export async function emit(tx: Exec, events: readonly OutboxEvent[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await query(tx, outboxInsert(events, at));
}
