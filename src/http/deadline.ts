/**
 * The server-side request deadline (ATP_REQUEST_DEADLINE_MS): a request not answered within it is
 * answered 503 application/problem+json `deadline-exceeded` with Retry-After, whatever it waits
 * for (a failover, a stopped primary, a lock, the allocation queue). Never a 500, never a hang.
 *
 * Concurrency contract: the work is NOT cancelled (a statement already sent cannot be taken back):
 * it runs to its end in the background and whatever it commits is correct and stored with its
 * Idempotency-Key, so the client's retry with the same key is answered as a replay of it (or, if
 * it never committed, runs afresh, once). Its late answer (or error) is dropped. Error contract:
 * this layer itself throws nothing; errors of the work before the deadline pass through unchanged.
 */
import type { MiddlewareHandler } from 'hono';
import { Unavailable } from '../domain/errors.js';
import type { AppEnv } from './context.js';
import { problemResponse } from './problem.js';

/** The answer to a request that ran out of time. */
export function deadlineExceeded(ms: number): Unavailable {
  return new Unavailable(
    `no answer within the request deadline (${ms} ms); the work may still complete: retry with the same Idempotency-Key (a reservation that committed is answered as its replay)`,
    1,
    'deadline-exceeded',
  );
}

/** The request log (outside this layer) records the 503 like any other. */
export function requestDeadline(ms: number): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), ms);
    });
    // the chain below catches its own errors (onError); this only keeps a late rejection handled
    const work = next().then(
      () => 'done' as const,
      (err: unknown) => ({ err }),
    );
    try {
      const outcome = await Promise.race([work, late]);
      if (outcome === 'late') {
        // set (not returned): the context is final now, so the work's late answer cannot replace it
        c.res = problemResponse(c, deadlineExceeded(ms));
        return;
      }
      if (outcome !== 'done') throw outcome.err;
    } finally {
      clearTimeout(timer);
    }
  };
}
