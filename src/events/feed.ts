/**
 * The event feed read from the outbox (GET /v1/events): the same CloudEvents the relay publishes,
 * for consumers without Redis and for the embedded (PGlite) default.
 *
 * Order and completeness: rows are returned in (txid, id) order and only when their writer
 * transaction id is below the xmin of the reading snapshot — every transaction below it has
 * finished, so any row that becomes visible later sorts after every row already returned. A
 * consumer that pages with `after = next` therefore sees every event once, in the same order as
 * the stream (until retention deletes rows older than ATP_OUTBOX_RETENTION_HOURS).
 */
import { pgArray } from '../db/pg-array.js';
import { sql } from 'drizzle-orm';
import { type Exec, query } from '../db/client.js';
import type { CloudEvent, EventsPage, EventType } from '../contract/events.js';
import { cursorOf, type OutboxRow, toCloudEvent } from './types.js';

const AVAILABILITY_TYPE: EventType = 'availability.changed';

export const CURSOR_RE = /^(\d{1,20})\.(\d{1,20})$/;
export const START_CURSOR = '0.0';

/** One page of the feed (contract/events.ts EventsPage): `next` is the cursor to pass as `after` next time (unchanged when there was nothing new). */
export type FeedPage = EventsPage;

export interface FeedQuery {
  after?: string | undefined;
  limit: number;
  /**
   * only events about these channels (channel-scoped keys): reservations of theirs, and
   * availability.changed of theirs; undefined = everything
   */
  channels?: readonly string[] | undefined;
  /** only events of these types; undefined = every type */
  types?: readonly string[] | undefined;
}

export async function readEvents(exec: Exec, q: FeedQuery): Promise<FeedPage> {
  const after = q.after ?? START_CURSOR;
  const m = CURSOR_RE.exec(after);
  if (!m) throw new Error(`invalid cursor ${after}`);
  const [, txid, id] = m as unknown as [string, string, string];
  const mine = q.channels && sql`${pgArray(q.channels)}::text[]`;
  const scope = mine
    ? sql`and (data->'reservation'->>'channel' = any(${mine}) or (type = ${AVAILABILITY_TYPE} and data->>'channel' = any(${mine})))`
    : sql``;
  // a literal for the availability feed alone, so the planner can use its partial index (outbox_availability_idx)
  const types =
    q.types === undefined
      ? sql``
      : q.types.length === 1 && q.types[0] === AVAILABILITY_TYPE
        ? sql.raw(`and type = '${AVAILABILITY_TYPE}'`)
        : sql`and type = any(${pgArray(q.types)}::text[])`;
  const rows = await query<OutboxRow>(
    exec,
    sql`select id::text as id, event_id, type, subject, data_json::text as data, txid::text as txid, created_at
        from outbox_event outbox
        where (txid, id) > (${txid}::xid8, ${id}::bigint)
          and txid < pg_snapshot_xmin(pg_current_snapshot())
          ${scope} ${types}
        order by outbox.txid, outbox.id
        limit ${q.limit}`,
  );
  return { events: rows.map(toCloudEvent), next: rows.length > 0 ? cursorOf(rows[rows.length - 1]!) : after };
}
