/**
 * Idempotency-Key handling shared by every mutating verb. A key is scoped to its caller; its row
 * stores the fingerprint (method, route, canonical body) and the first response, written in the
 * same transaction as the change. A replay with the same fingerprint returns the stored response;
 * another fingerprint is refused (422). A request that was refused (4xx) changed nothing and
 * stores nothing, so its retry is evaluated afresh.
 *
 * Races: the key row is inserted with ON CONFLICT DO NOTHING, which waits for a concurrent
 * transaction inserting the same key; if that one committed, this transaction rolls back and is
 * retried, and the retry finds the stored response. Two concurrent requests with one key
 * therefore allocate once.
 */
import type { JsonText } from '../contract/json-text.js';
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { asDate, type Clock, nowSql } from '../db/clock.js';
import { type Db, type Exec, query, type Tx } from '../db/client.js';
import { inTransaction, RetryTransaction } from '../db/tx.js';
import { DomainError, IdempotencyKeyReused, Unavailable } from '../domain/errors.js';
import { pgArray } from '../db/pg-array.js';

export interface IdempotencyKey {
  caller: string;
  key: string;
  fingerprint: string;
}

/**
 * What a verb answered under an Idempotency-Key: the value it computed now (`replayed: false`), or
 * its first answer, read back from the stored JSON text (`replayed: true`). The route that ran the
 * verb decides the status code; the service knows none.
 */
export interface Answered<T> {
  value: T;
  replayed: boolean;
}

/** A replay: the first answer, and its JSON text as stored (sent as these bytes, it is the first answer byte for byte). */
export interface Replayed<T> extends Answered<T> {
  replayed: true;
  json: JsonText<T>;
}

/** A stored answer: the JSON text of the first answer (as stored: read as text, parsed once by `storedFor`). */
interface StoredRow {
  caller: string;
  key: string;
  fingerprint: string;
  status_code: number;
  response: string;
}

const mapKey = (caller: string, key: string) => `${caller}\u0000${key}`;

/** Canonical JSON (keys sorted) so that the same body always has the same fingerprint. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function fingerprint(method: string, route: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${route}\n${canonicalJson(body)}`).digest('base64url');
}

/**
 * The one lookup of stored responses: the rows of these (caller, key) pairs. A reservation keeps
 * its key and first answer on its own row (the row budget: no second row per reservation); every
 * other verb's answer is in idempotency_keys. One namespace per caller across both.
 */
function storedRowsSql(keys: readonly Omit<IdempotencyKey, 'fingerprint'>[]) {
  const callers = pgArray(keys.map((k) => k.caller));
  const values = pgArray(keys.map((k) => k.key));
  return sql`select k.caller, k.key, k.fingerprint, k.status_code, k.response::text as response
      from unnest(${callers}::text[], ${values}::text[]) as q(caller, key)
      join idempotency_keys k on k.caller = q.caller and k.key = q.key
    union all
    select r.caller, r.idempotency_key, r.fingerprint, 201, r.answer::text
      from unnest(${callers}::text[], ${values}::text[]) as q(caller, key)
      join reservations r on r.caller = q.caller and r.idempotency_key = q.key
      where r.answer is not null`;
}

/** Stored responses for these keys, by caller+key. */
export async function findStored(exec: Exec, keys: readonly Omit<IdempotencyKey, 'fingerprint'>[]): Promise<Map<string, StoredRow>> {
  if (keys.length === 0) return new Map();
  const rows = await query<StoredRow>(exec, storedRowsSql(keys));
  return new Map(rows.map((r) => [mapKey(r.caller, r.key), r]));
}

/**
 * `findStored` and the transaction's instant (db/clock.ts) in ONE statement: a writer's first
 * statement reads the time every row and answer of its transaction carries, at no extra round trip.
 */
export async function findStoredAt(exec: Exec, keys: readonly Omit<IdempotencyKey, 'fingerprint'>[], clock: Clock | undefined): Promise<{ stored: Map<string, StoredRow>; at: Date }> {
  const rows = await query<{ at: Date | string } & { [K in keyof StoredRow]: StoredRow[K] | null }>(
    exec,
    sql`select t.at, k.caller, k.key, k.fingerprint, k.status_code, k.response
        from (select ${nowSql(clock)} as at) t
        left join lateral (${storedRowsSql(keys)}) k on true`,
  );
  const stored = new Map<string, StoredRow>();
  for (const r of rows) if (r.caller !== null) stored.set(mapKey(r.caller, r.key!), r as StoredRow);
  return { stored, at: asDate(rows[0]!.at) };
}

/**
 * Make a replay durable before it is answered: a statement that takes a transaction id commits
 * only once the synchronous standby has confirmed WAL past it, so the stored answer being replayed
 * (committed earlier) is on two nodes. Without it a primary cut off from its standby could replay a
 * row other sessions already see but the standby never got (a reservation later lost on failover).
 * One statement: run it in the transaction that found the replay, or on its own (autocommit).
 */
export async function replayBarrier(exec: Exec): Promise<void> {
  await query(exec, sql`select txid_current()`);
}

/**
 * The first answer stored for this key, or undefined; 422 (IdempotencyKeyReused) when the key was
 * first used with another request. `T` is the answer of the verb the fingerprint names (method,
 * route and body): the stored text is that verb's first answer, serialised once, so parsing it
 * gives back a `T`.
 */
export function storedFor<T>(stored: Map<string, StoredRow>, k: IdempotencyKey): Replayed<T> | undefined {
  const row = stored.get(mapKey(k.caller, k.key));
  if (!row) return undefined;
  if (row.fingerprint !== k.fingerprint) throw new IdempotencyKeyReused();
  const value: T = JSON.parse(row.response);
  // the text of the answer this key's verb stored (its fingerprint names the verb): a T
  return { value, replayed: true, json: row.response as JsonText<T> };
}

/**
 * The SQL fragment (for a data-modifying CTE) that stores answers; returns the keys it inserted.
 * `status` is the status code the route answers the verb with, a column of idempotency_keys.
 */
export function storeResponsesSql(rows: readonly (IdempotencyKey & { status: number; body: unknown })[], at: Date) {
  return sql`insert into idempotency_keys (caller, key, fingerprint, status_code, response, created_at)
    select caller, key, fingerprint, status, body, ${at.toISOString()}::timestamptz
    from unnest(${pgArray(rows.map((r) => r.caller))}::text[], ${pgArray(rows.map((r) => r.key))}::text[], ${pgArray(rows.map((r) => r.fingerprint))}::text[],
                ${pgArray(rows.map((r) => r.status))}::int[], ${pgArray(rows.map((r) => JSON.stringify(r.body)))}::jsonb[])
      as d(caller, key, fingerprint, status, body)
    on conflict (caller, key) do nothing
    returning caller, key`;
}

/**
 * Run one mutating verb idempotently in its own transaction: replay if the key is known,
 * otherwise run `fn` and store its answer atomically with its changes (with `status`, the code the
 * route answers the verb with; the verb returns a domain value, never a status). The key lookup also
 * reads the transaction's instant (`at`, Postgres time or the test `clock`): `fn` stamps every
 * row and answer of the change with it.
 *
 * Concurrency: two attempts with one key run once (the key insert waits for the other and the
 * loser retries into a replay). A refusal (4xx) is checked against the key once more after its
 * transaction: an attempt that committed meanwhile answers instead, so a retry sent while the
 * first attempt was still running never gets a refusal caused by that attempt's own effect.
 * Errors: the verb's domain errors; 422 when the key was first used with another request.
 */
export async function runIdempotent<T>(
  db: Db,
  key: IdempotencyKey,
  status: number,
  fn: (tx: Tx, at: Date) => Promise<T>,
  retries?: number,
  clock?: Clock,
): Promise<Answered<T>> {
  try {
    return await attemptIdempotent(db, key, status, fn, retries, clock);
  } catch (err) {
    // A refusal may be computed from the effect of this key's own first attempt, which committed
    // while this one waited for its locks (a retry sent before the first answer came): answer
    // with the first attempt's response. One lookup, only on refusals.
    if (err instanceof DomainError && !(err instanceof Unavailable) && !(err instanceof IdempotencyKeyReused)) {
      const late = storedFor<T>(await findStored(db, [key]), key);
      if (late) {
        await replayBarrier(db);
        return late;
      }
    }
    throw err;
  }
}

function attemptIdempotent<T>(db: Db, key: IdempotencyKey, status: number, fn: (tx: Tx, at: Date) => Promise<T>, retries: number | undefined, clock: Clock | undefined): Promise<Answered<T>> {
  return inTransaction(
    db,
    async (tx) => {
      const { stored, at } = await findStoredAt(tx, [key], clock);
      const replay = storedFor<T>(stored, key);
      if (replay) {
        await replayBarrier(tx);
        return replay;
      }
      const value = await fn(tx, at);
      const inserted = await query(tx, storeResponsesSql([{ ...key, status, body: value }], at));
      if (inserted.length !== 1) throw new RetryTransaction('idempotency key taken concurrently');
      return { value, replayed: false };
    },
    retries,
  );
}
