/**
 * Transactions with a bounded retry. Retried: serialization failures and deadlocks (40001, 40P01)
 * and `RetryTransaction` (an optimistic check that lost a race, e.g. a concurrent duplicate
 * Idempotency-Key). Everything else is mapped once by `mapDatabaseError` and thrown.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db, Tx } from './client.js';
import { Unavailable } from '../domain/errors.js';
import { errorCode, isRetryable, mapDatabaseError } from './errors.js';

export class RetryTransaction extends Error {
  override name = 'RetryTransaction';
}

export interface TxStats {
  retries: number;
  /** transactions that failed because a lock wait hit lock_timeout (55P03) */
  lockTimeouts: number;
}

export const txStats: TxStats = { retries: 0, lockTimeouts: 0 };

export async function inTransaction<T>(db: Db, fn: (tx: Tx) => Promise<T>, retries = 4): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction(fn as never);
    } catch (err) {
      if ((err instanceof RetryTransaction || isRetryable(err)) && attempt < retries) {
        txStats.retries++;
        await sleep(Math.random() * 5 * 2 ** attempt);
        continue;
      }
      if (errorCode(err) === '55P03') txStats.lockTimeouts++;
      if (err instanceof RetryTransaction) throw new Unavailable(`the transaction kept losing a race (${err.message}); retry with the same Idempotency-Key`, 1, 'contention');
      throw mapDatabaseError(err) ?? err;
    }
  }
}
