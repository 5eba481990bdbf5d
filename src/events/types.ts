/**
 * Outbox events as the writers and the relay handle them; their shapes are in
 * src/contract/events.ts. Writers build events with `outboxEvent()` (typed against that list), the
 * relay and GET /v1/events wrap the stored rows as CloudEvents 1.0 with `toCloudEvent()`.
 */
import { type CloudEvent, dataschemaOf, type EventData, type EventType } from '../contract/events.js';
import type { SqlRow } from '../db/rows.js';
import type { outbox } from '../db/schema.js';

export interface OutboxEvent<T extends EventType = EventType> {
  type: T;
  subject: string;
  data: EventData<T>;
}

/** A typed outbox event: the payload must match the schema of its type (checked by tsc). Pure. */
export function outboxEvent<T extends EventType>(type: T, subject: string, data: EventData<T>): OutboxEvent<T> {
  return { type, subject, data };
}

export const CLOUDEVENTS_SOURCE = '/atp-service';

/** An outbox row as a raw `select` returns it (types from the drizzle schema, db/rows.ts). */
export type OutboxRow = SqlRow<typeof outbox>;

export const cursorOf = (r: { txid: string; id: string }) => `${r.txid}.${r.id}`;

/**
 * The CloudEvent of `r` as JSON text. Data read as JSON text (the relay reads it so) is embedded
 * as it is, not parsed and written again.
 */
export function cloudEventJson(r: OutboxRow): string {
  if (typeof r.data !== 'string') return JSON.stringify(toCloudEvent(r));
  const head = JSON.stringify({ ...toCloudEvent({ ...r, data: null }), data: undefined });
  return `${head.slice(0, -1)},"data":${r.data}}`;
}

export function toCloudEvent(r: OutboxRow): CloudEvent {
  return {
    specversion: '1.0',
    id: r.event_id,
    source: CLOUDEVENTS_SOURCE,
    type: r.type,
    subject: r.subject,
    time: new Date(r.created_at).toISOString(),
    datacontenttype: 'application/json',
    ...(dataschemaOf(r.type) ? { dataschema: dataschemaOf(r.type) } : {}),
    atpseq: cursorOf(r),
    data: typeof r.data === 'string' ? JSON.parse(r.data) : r.data,
  };
}
