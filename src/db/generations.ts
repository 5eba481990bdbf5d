/**
 * Replaceable connection pools. postgres.js gives no handle to close one bad connection, so the
 * unit that can be replaced is the whole set of pools of a Database ("a generation"): a fresh
 * postgres.js instance, whose every connection is checked against target_session_attrs when it
 * opens. The old generation is ended in the background: statements already running on it may
 * finish (within the bound its `end` sets), new ones go to the new generation.
 *
 * Why this exists: postgres.js 3.4.9 keeps a connection's last ErrorResponse and query when the
 * socket closes before ReadyForQuery (a FATAL such as 57P01 during a query: every failover and
 * pg_terminate_backend under load). On the reconnect it treats that stale error as the startup's
 * failure: the first query is rejected with it and the target_session_attrs check is skipped, so
 * the connection stays on whatever host it reached — a hot standby included (upstream
 * porsager/postgres#1223 describes the stale error; test/db.standby-landing.test.ts reproduces
 * the landing on two real nodes). The service cannot reach inside the driver, so a connection that
 * answers SQLSTATE 25006 makes the owner call `replace`, which swaps in fresh pools.
 */

export interface Replacement {
  /** the new generation's id (the first generation is 1) */
  generation: number;
  reason: string;
}

export interface GenerationsOptions<P> {
  /** open one generation's pools (lazily connecting: no I/O here) */
  open: (generation: number) => P;
  /** end a generation's pools (statements in flight may finish first, within a bound) */
  end: (pools: P) => Promise<void>;
  /**
   * At most one replacement per this many ms. A primary that is really read-only
   * (default_transaction_read_only, a disk-full guard) answers 25006 to every fresh pool too:
   * without the bound it would be reconnected at the request rate.
   */
  minIntervalMs: number;
  /** time source in ms (tests inject one); default Date.now */
  now?: () => number;
  onReplace?: (r: Replacement) => void;
}

export class Generations<P> {
  private gen: { id: number; pools: P };
  private lastReplacedAt = Number.NEGATIVE_INFINITY;
  private readonly draining = new Set<Promise<void>>();
  private closed = false;
  /** replacements since start */
  replacements = 0;

  /** Opens generation 1 at once (throws what `open` throws). */
  constructor(private readonly opts: GenerationsOptions<P>) {
    this.gen = { id: 1, pools: opts.open(1) };
  }

  /** The pools new work should use. */
  get current(): P {
    return this.gen.pools;
  }

  /** The id of the current generation: pass it to `replace` from the pools it names. */
  get id(): number {
    return this.gen.id;
  }

  /**
   * Replace generation `id` with a fresh one, if `id` is still current, the last replacement is
   * at least `minIntervalMs` old and `close` has not been called; returns whether it did.
   * Concurrency: synchronous, so any number of failing statements may call it at once — the first
   * call for a generation replaces it, every later call for that generation is a no-op. Errors:
   * none thrown; a failure while ending the old pools is swallowed (its connections are gone or
   * going either way).
   */
  replace(id: number, reason: string): boolean {
    if (this.closed || id !== this.gen.id) return false;
    const now = (this.opts.now ?? Date.now)();
    if (now - this.lastReplacedAt < this.opts.minIntervalMs) return false;
    this.lastReplacedAt = now;
    const old = this.gen.pools;
    this.gen = { id: id + 1, pools: this.opts.open(id + 1) };
    this.replacements++;
    const ended: Promise<void> = this.opts
      .end(old)
      .catch(() => {})
      .finally(() => this.draining.delete(ended));
    this.draining.add(ended);
    this.opts.onReplace?.({ generation: this.gen.id, reason });
    return true;
  }

  /**
   * End the current generation and wait for every older one still draining. After it, `replace`
   * does nothing. Errors: what `end` of the current generation rejects with.
   */
  async close(): Promise<void> {
    this.closed = true;
    const draining = [...this.draining];
    await this.opts.end(this.gen.pools);
    await Promise.all(draining);
  }
}
