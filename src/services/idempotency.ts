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
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { type Db, type Exec, query, type Tx } from '../db/client.js';
import { inTransaction, RetryTransaction } from '../db/tx.js';
import { IdempotencyKeyReused } from '../domain/errors.js';

export interface IdempotencyKey {
  caller: string;
  key: string;
  fingerprint: string;
}

export interface StoredResponse {
  status: number;
  body: unknown;
}

export interface IdempotentResult extends StoredResponse {
  replayed: boolean;
}

interface StoredRow {
  caller: string;
  key: string;
  fingerprint: string;
  status_code: number;
  response: unknown;
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

/** Stored responses for these keys, by caller+key. */
export async function findStored(exec: Exec, keys: readonly Omit<IdempotencyKey, 'fingerprint'>[]): Promise<Map<string, StoredRow>> {
  if (keys.length === 0) return new Map();
  const rows = await query<StoredRow>(
    exec,
    sql`select caller, key, fingerprint, status_code, response from idempotency_keys
        where (caller, key) in (select caller, key from jsonb_to_recordset(${JSON.stringify(keys.map((k) => ({ caller: k.caller, key: k.key })))}::jsonb) as k(caller text, key text))`,
  );
  return new Map(rows.map((r) => [mapKey(r.caller, r.key), r]));
}

export function storedFor(stored: Map<string, StoredRow>, k: IdempotencyKey): IdempotentResult | undefined {
  const row = stored.get(mapKey(k.caller, k.key));
  if (!row) return undefined;
  if (row.fingerprint !== k.fingerprint) throw new IdempotencyKeyReused();
  return { status: row.status_code, body: typeof row.response === 'string' ? JSON.parse(row.response) : row.response, replayed: true };
}

/** The SQL fragment (for a data-modifying CTE) that stores responses; returns the keys it inserted. */
export function storeResponsesSql(rows: readonly (IdempotencyKey & StoredResponse)[]) {
  return sql`insert into idempotency_keys (caller, key, fingerprint, status_code, response)
    select caller, key, fingerprint, status, body from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
      as d(caller text, key text, fingerprint text, status int, body jsonb)
    on conflict (caller, key) do nothing
    returning caller, key`;
}

/**
 * Run one mutating verb idempotently in its own transaction: replay if the key is known,
 * otherwise run `fn` and store its response atomically with its changes.
 */
export async function runIdempotent(
  db: Db,
  key: IdempotencyKey,
  fn: (tx: Tx) => Promise<StoredResponse>,
  retries?: number,
): Promise<IdempotentResult> {
  return inTransaction(
    db,
    async (tx) => {
      const replay = storedFor(await findStored(tx, [key]), key);
      if (replay) return replay;
      const response = await fn(tx);
      const inserted = await query(tx, storeResponsesSql([{ ...key, ...response }]));
      if (inserted.length !== 1) throw new RetryTransaction('idempotency key taken concurrently');
      return { ...response, replayed: false };
    },
    retries,
  );
}
