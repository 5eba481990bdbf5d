/**
 * The relay's side of the Redis Stream (see src/events/relay.ts for the contract): entry ids
 * derived from the outbox order, the append script that makes Redis refuse a second copy of an
 * event, the check that the stream's last entry belongs to this outbox, and the resume after a
 * (re)connect from the last entry present.
 */
import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { type Exec, query } from '../db/client.js';
import type { Logger } from '../logger.js';
import { cloudEventJson, type OutboxRow } from './types.js';

export interface StreamRef {
  redis: Redis;
  name: string;
  logger?: Logger | undefined;
}

/** The stream entry id of an outbox row: `<txid>-<id>` (why: the header of src/events/relay.ts). */
export const streamIdOf = (r: { txid: string; id: string }) => `${r.txid}-${r.id}`;

/**
 * Append a batch. KEYS[1] = stream; ARGV[1] = MAXLEN (approximate); then per entry: stream id,
 * event id, type, subject, event JSON. Returns one status per entry — 1 appended, 0 refused as
 * already present (id not above the stream's top) — and stops at the first other error, whose
 * message ends the list: the stream never gets an entry after one that failed.
 */
const APPEND_SCRIPT = `
local out = {}
for i = 2, #ARGV, 5 do
  local r = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], ARGV[i], 'id', ARGV[i + 1], 'type', ARGV[i + 2], 'subject', ARGV[i + 3], 'event', ARGV[i + 4])
  if type(r) == 'table' and r.err then
    if string.find(r.err, 'equal or smaller', 1, true) then
      out[#out + 1] = 0
    else
      out[#out + 1] = r.err
      return out
    end
  else
    out[#out + 1] = 1
  end
end
return out`;

/** The stream's last entry is not a row of this outbox: nothing can be appended after it in order. */
export class ForeignStream extends Error {
  override name = 'ForeignStream';
}

/** Append `rows` in order (one script); one reply per row until the first error (see APPEND_SCRIPT). */
export async function appendBatch(stream: StreamRef, maxLen: number, rows: OutboxRow[]): Promise<(number | string)[]> {
  const args: string[] = [String(maxLen)];
  for (const r of rows) {
    args.push(streamIdOf(r), r.event_id, r.type, r.subject, cloudEventJson(r));
  }
  return (await stream.redis.eval(APPEND_SCRIPT, 1, stream.name, ...args)) as (number | string)[];
}

/**
 * The stream's last entry, checked to be a row of this outbox: its id `<txid>-<id>` names a row
 * whose event id is the entry's. `undefined` for a missing or empty stream; throws
 * `ForeignStream` otherwise.
 */
export async function lastEntry(stream: StreamRef, tx: Exec, why: string): Promise<{ txid: string; id: string } | undefined> {
  const top = await stream.redis.xrevrange(stream.name, '+', '-', 'COUNT', 1);
  if (top.length === 0) return undefined;
  const [entryId, fields] = top[0]!;
  const m = /^(\d+)-(\d+)$/.exec(entryId);
  const eventId = fields[fields.indexOf('id') + 1];
  const [row] = m ? await query<{ event_id: string }>(tx, sql`select event_id::text as event_id from outbox where id = ${m[2]}::bigint and txid = ${m[1]}::xid8`) : [];
  if (!m || !row || fields.indexOf('id') < 0 || row.event_id !== eventId) {
    throw new ForeignStream(
      `stream ${stream.name} ends with entry ${entryId}, which is not an event of this outbox (${why}): events cannot be appended after it in order. ` +
        'Point ATP_EVENTS_STREAM at a new stream, or delete this one (a stream written by a relay before explicit entry ids, or by another deployment)',
    );
  }
  return { txid: m[1]!, id: m[2]! };
}

/** `lastEntry`, which must exist (a stream that refused an entry is not empty unless its entries were deleted). */
export async function requireLastEntry(stream: StreamRef, tx: Exec, why: string): Promise<void> {
  if (!(await lastEntry(stream, tx, why))) throw new ForeignStream(`stream ${stream.name} is empty but refused entries as not above its top (${why}): its entries were deleted; point ATP_EVENTS_STREAM at a new stream`);
}

/**
 * After a (re)connect: rows published after the stream's last entry are not in the stream any
 * more (failover to a lagging replica, an older snapshot restored): mark them unpublished so
 * they go out again, in order. Returns how many, and whether the stream was found missing or
 * empty although this outbox has published to it (`lost`: Redis restarted without persistence,
 * or ATP_EVENTS_STREAM now names a new stream — the two cannot be told apart; consumers that had
 * not read those events missed them, and Postgres keeps them for GET /v1/events within the
 * retention). A stream that is missing, empty or ends with an entry of another outbox is left to
 * the append (which refuses what it must).
 */
export async function resumeFromStream(stream: StreamRef, tx: Exec): Promise<{ republish: number; lost: boolean }> {
  let last: { txid: string; id: string } | undefined;
  try {
    last = await lastEntry(stream, tx, 'resuming after a connect');
  } catch (err) {
    if (err instanceof ForeignStream) return { republish: 0, lost: false };
    throw err;
  }
  if (!last) {
    const [c] = await query<{ published: boolean }>(tx, sql`select outbox_id > 0 as published from relay_cursor where id = 1`);
    const lost = c?.published === true;
    if (lost) {
      stream.logger?.warn(
        { stream: stream.name },
        'outbox relay: the stream is missing or empty although events were published to it (Redis restarted without persistence, or a new ATP_EVENTS_STREAM); consumers that had not read them missed them; GET /v1/events still serves them within the outbox retention',
      );
    }
    return { republish: 0, lost };
  }
  // the cursor goes back to the stream's last entry; the rows between are published again
  const [row] = await query<{ n: number }>(
    tx,
    sql`with c as (select txid, outbox_id from relay_cursor where id = 1 and (txid, outbox_id) > (${last.txid}::xid8, ${last.id}::bigint) for update),
             lost as (select count(*)::int as n from c join outbox o
                      on (o.txid, o.id) > (${last.txid}::xid8, ${last.id}::bigint) and (o.txid, o.id) <= (c.txid, c.outbox_id)),
             moved as (update relay_cursor r set txid = ${last.txid}::xid8, outbox_id = ${last.id}::bigint from c where r.id = 1 returning 1)
        select ((select n from lost) + 0 * (select count(*) from moved))::int as n`,
  );
  const n = row?.n ?? 0;
  if (n > 0) stream.logger?.warn({ stream: stream.name, lastEntry: streamIdOf(last), republish: n }, 'outbox relay: the stream lost its last entries (failover or older snapshot); publishing them again from the outbox');
  return { republish: n, lost: false };
}
