/**
 * The rules table (src/db/schema.ts `rules`): Postgres stores every version and assigns the
 * number. These are the only statements that touch it; each is one statement, no transaction,
 * but for the adoption of rules found in Redis (a lock, then its insert).
 */
import { sql } from 'drizzle-orm';
import { type Clock, nowSql } from '../db/clock.js';
import { type Db, query } from '../db/client.js';
import { mapDatabaseError } from '../db/errors.js';
import { PreconditionFailed, Unavailable } from '../domain/errors.js';
import { RulesDocument, type RulesInput } from '../contract/rules.js';

const ISO = sql.raw(`'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`);

/** The latest stored version is not a valid rules document (edited by hand): never enforced. */
export class InvalidStoredRules extends Error {
  override name = 'InvalidStoredRules';
}

function rethrow(err: unknown): never {
  throw mapDatabaseError(err) ?? err;
}

/**
 * The latest version, with its document only when it is newer than `newerThan` (one round trip;
 * the document is read only when there is something to apply). `undefined`: no rules set yet.
 * Throws when the stored document fails validation (naming the version and the field).
 */
export async function latestRules(db: Db, newerThan = -1): Promise<{ version: number; doc?: RulesDocument } | undefined> {
  const [row] = await query<{ version: number; doc: string | null; updated_at: string | null }>(
    db,
    sql`select version, case when version > ${newerThan}::bigint then doc::text end as doc,
               case when version > ${newerThan}::bigint then to_char(created_at at time zone 'UTC', ${ISO}) end as updated_at
        from rules order by version desc limit 1`,
  );
  if (!row) return undefined;
  const version = Number(row.version);
  if (row.doc === null) return { version };
  const parsed = RulesDocument.safeParse({ ...(JSON.parse(row.doc) as object), version, updatedAt: row.updated_at ?? undefined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidStoredRules(`rules version ${version} in Postgres is not a valid rules document (${issue?.path.join('.') || '(document)'}: ${issue?.message})`);
  }
  return { version, doc: parsed.data };
}

/**
 * Store `input` as the next version. Concurrency: one statement computes `max(version) + 1` and
 * checks If-Match (`ifVersion`) against the same max; the primary key lets only one of two
 * concurrent writers of a version commit (the other's `on conflict do nothing` inserts nothing).
 * Errors: `PreconditionFailed` (412, with `currentVersion`) when `ifVersion` is not the latest;
 * `Unavailable` (503) when Postgres cannot be reached. An unconditional write that loses a race is
 * retried (it has no precondition to fail). Time: `updatedAt` is the statement's Postgres time to
 * the millisecond (or the test `clock`'s instant, db/clock.ts) as RETURNING gives it back, so the
 * answer equals the row.
 */
export async function insertRules(db: Db, input: RulesInput, ifVersion: number | undefined, actor: string | undefined, clock?: Clock): Promise<RulesDocument> {
  for (let attempt = 0; ; attempt++) {
    let row: { version: number; updated_at: string } | undefined;
    try {
      [row] = await query<{ version: number; updated_at: string }>(
        db,
        sql`with cur as (select coalesce(max(version), 0) as v from rules)
            insert into rules (version, doc, actor, created_at)
            select v + 1, ${JSON.stringify(input)}::jsonb, ${actor ?? null}, ${nowSql(clock)} from cur
            where ${ifVersion ?? null}::int is null or v = ${ifVersion ?? null}::int
            on conflict (version) do nothing
            returning version, to_char(created_at at time zone 'UTC', ${ISO}) as updated_at`,
      );
    } catch (err) {
      rethrow(err);
    }
    if (row) return { ...input, version: Number(row.version), updatedAt: row.updated_at };
    let current = 0;
    try {
      current = (await latestRules(db, Number.MAX_SAFE_INTEGER))?.version ?? 0;
    } catch (err) {
      rethrow(err);
    }
    if (ifVersion !== undefined) throw new PreconditionFailed(`rules are at version ${current}, not ${ifVersion}`, { currentVersion: current });
    if (attempt >= 5) throw new Unavailable('the rules kept changing under this write; retry', 1, 'contention');
  }
}

/**
 * Upgrade path: adopt `doc` (found in Redis, written by a version that kept the rules only
 * there) as the first stored version, only while the table is empty. Returns whether it did.
 *
 * Concurrency: the table is locked (EXCLUSIVE: reads go on, writers wait) BEFORE the statement
 * that checks it is empty takes its snapshot. An `insertRules` that got in first has committed by
 * then (the table is not empty: nothing adopted); one that comes later waits for the lock and
 * numbers its version after the adopted one. Without the lock both could see an empty table and
 * the adopted (older) rules would outrank the operator's first PUT.
 */
export async function adoptRules(db: Db, doc: RulesDocument): Promise<boolean> {
  const { version, updatedAt, ...input } = doc;
  try {
    return await db.transaction(async (tx) => {
      await query(tx, sql`lock table rules in exclusive mode`);
      const rows = await query<{ version: number }>(
        tx,
        sql`insert into rules (version, doc, actor, created_at)
            select ${version}::int, ${JSON.stringify(input)}::jsonb, 'adopted-from-redis', coalesce(${updatedAt ?? null}::timestamptz, now())
            where not exists (select 1 from rules)
            on conflict (version) do nothing
            returning version`,
      );
      return rows.length > 0;
    });
  } catch (err) {
    rethrow(err);
  }
}
