/**
 * One clock. Every time the service stores or answers — createdAt, updatedAt, expiresAt, an
 * event's `time` and `at`, a check's `checkedAt` — is Postgres time, read by a statement of the
 * transaction that writes it, never the process's `new Date()`: the transaction's `now()`
 * truncated to milliseconds (what a JSON timestamp carries, so an answer equals its row to the
 * microsecond). A writer reads that instant once, in a statement it makes anyway (the
 * Idempotency-Key lookup, the lock of the rows it changes) or with RETURNING, and binds the
 * value it read into every later statement of the transaction, so every row and every answer of
 * one transaction carries the same instant.
 *
 * Tests inject a `Clock` (ServiceOptions.clock): its instant is bound as a timestamptz parameter
 * in place of now() in the same statements, so a test moves time instead of sleeping. In-memory
 * TTLs (catalog cache, sold-out memory) run on the same injected clock in tests and on the
 * process's monotonic clock otherwise (they are durations, never stored or answered).
 */
import { type SQL, sql } from 'drizzle-orm';

/** A source of "now" for tests only; production runs without one (Postgres time). */
export interface Clock {
  now(): Date;
}

/** The SQL expression of the transaction's instant: Postgres now() to the millisecond, or the test clock's instant as a parameter. */
export function nowSql(clock: Clock | undefined): SQL {
  return clock ? sql`${clock.now().toISOString()}::timestamptz` : sql`date_trunc('milliseconds', now())`;
}

/** A timestamptz as either driver returns it (postgres.js through drizzle: a string; PGlite: a string or Date). */
export const asDate = (v: Date | string): Date => (v instanceof Date ? v : new Date(v));

/** A millisecond clock for in-memory TTLs: the test clock when injected, else the monotonic process clock. */
export const ttlClock = (clock: Clock | undefined): (() => number) => (clock ? () => clock.now().getTime() : () => performance.now());
