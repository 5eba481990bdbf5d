/**
 * Per-key rate limits of the read path (issue 15): a token bucket per caller (API key id),
 * `perSecond` tokens a second up to `burst`. Off when `perSecond` is 0 (the default). A read over
 * the limit is refused at once with 429 rate-limited naming the limit (the setting's name) and a
 * Retry-After; it costs nothing else. In memory per instance: a limit on a fleet of N instances
 * behind a balancer is N × the setting at most (documented with the setting).
 */
import { RateLimited } from '../domain/errors.js';

export interface RateLimitOptions {
  /** tokens per second per key; 0: no limit */
  perSecond: number;
  /** bucket size (0: one second's worth) */
  burst: number;
  /** the setting's name, quoted in the 429 */
  name: string;
  /** milliseconds (monotonic; the test clock in tests) */
  now: () => number;
}

const MAX_KEYS = 10_000;

export class KeyRateLimit {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly burst: number;
  /** reads refused */
  refused = 0;

  constructor(private readonly opts: RateLimitOptions) {
    this.burst = opts.burst > 0 ? opts.burst : Math.max(1, opts.perSecond);
  }

  /** Take one token for `key`; throws RateLimited (429) when its bucket is empty. */
  take(key: string): void {
    const { perSecond } = this.opts;
    if (perSecond <= 0) return;
    const now = this.opts.now();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_KEYS) this.buckets.clear();
      this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return;
    }
    this.refused++;
    throw new RateLimited(this.opts.name, perSecond, this.burst, Math.max(1, Math.ceil((1 - b.tokens) / perSecond)));
  }
}
