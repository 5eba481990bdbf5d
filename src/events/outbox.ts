/**
 * The one outbox writer: events go to the outbox in the transaction of the change they announce
 * (the relay publishes them once it has committed, src/events/relay.ts).
 */
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import type { OutboxEvent } from './types.js';

const json = (v: unknown) => sql`${JSON.stringify(v)}::jsonb`;

/**
 * Write events to the outbox in the caller's transaction (build them with `outboxEvent`,
 * src/contract/events.ts); `at`, the transaction's instant, is each event's `time`.
 * Concurrency: one insert in `tx`, no locks of its own. Errors: rejects with the driver's error
 * (the caller's transaction fails; db/errors.ts maps it).
 */
export async function emit(tx: Exec, events: readonly OutboxEvent[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await query(
    tx,
    sql`insert into outbox (type, subject, data, created_at)
        select type, subject, data, ${at.toISOString()}::timestamptz from jsonb_to_recordset(${json(events)}) as d(type text, subject text, data jsonb)`,
  );
}
