/**
 * The read path's one entry (issue 15): GET /v1/atp, POST /v1/promise and the sold-out check of
 * reservations each answer from one shared read statement (src/reads/batcher.ts), with the rules
 * applied in memory (never older than the latest version the statement saw) and the per-key rate
 * limit taken first.
 *
 * Concurrency: any number of callers; reads that arrive while statements are in flight share the
 * next one. Errors: 429 rate-limited (the per-key limit, named) or overloaded (the read queue is
 * full), 400/422 naming the field (a unit, a quantity, a location), or the database's error
 * (503 when it cannot be reached). A read changes nothing.
 */
import type { Config } from '../config.js';
import { type Clock, ttlClock } from '../db/clock.js';
import type { ReadStatement } from '../db/client.js';
import { availableOf } from '../domain/allocate.js';
import type { RulesStore } from '../rules/store.js';
import { CatalogView } from '../domain/catalog.js';
import type { PromiseResult } from '../contract/atp.js';
import type { SoldOutMemory } from './sold-out.js';
import { type AtpAnswer, atpAnswer } from './atp.js';
import { ReadBatcher } from './batcher.js';
import { KeyRateLimit } from './limits.js';
import { type PromiseInput, promiseAnswer, promiseRead } from './promise.js';
import { ReadRules } from './rules.js';

export interface ReaderOptions {
  exec: ReadStatement;
  rules: RulesStore;
  config: Pick<Config, 'ATP_READ_QUEUE_MAX' | 'ATP_READ_BATCH_SKUS' | 'ATP_READ_RATE_PER_KEY' | 'ATP_READ_RATE_BURST'>;
  concurrency: number;
  /** tests only (db/clock.ts): the statement's instant and the rate limit's clock */
  clock?: Clock | undefined;
}

export class Reader {
  readonly batcher: ReadBatcher;
  readonly limit: KeyRateLimit;

  constructor(opts: ReaderOptions) {
    this.batcher = new ReadBatcher({
      exec: opts.exec,
      rules: new ReadRules(opts.rules),
      concurrency: opts.concurrency,
      maxQueue: opts.config.ATP_READ_QUEUE_MAX,
      maxSkus: opts.config.ATP_READ_BATCH_SKUS,
      clock: opts.clock,
    });
    this.limit = new KeyRateLimit({ perSecond: opts.config.ATP_READ_RATE_PER_KEY, burst: opts.config.ATP_READ_RATE_BURST, name: 'ATP_READ_RATE_PER_KEY', now: ttlClock(opts.clock) });
  }

  /** GET /v1/atp for `caller`: the requested SKUs (kits and pack units included) at one snapshot. */
  async atp(caller: string, q: { skus: readonly string[]; channel?: string | undefined; unit?: string | undefined }): Promise<AtpAnswer[]> {
    this.limit.take(caller);
    const { snapshot, rules } = await this.batcher.read({ skus: q.skus });
    return atpAnswer(snapshot, rules, q.skus, q.channel, q.unit);
  }

  /** POST /v1/promise for `caller` (lines as the caller wrote them: kits, pack units, pinned locations). */
  async promise(caller: string, input: PromiseInput, maxQty: number): Promise<PromiseResult> {
    this.limit.take(caller);
    const { snapshot, rules } = await this.batcher.read(promiseRead(input));
    return promiseAnswer(snapshot, rules, input, maxQty);
  }

  /** The pack units of `sku` (GET /v1/units/{sku}), from the shared statement: never a stale copy. */
  async unitsOf(sku: string): Promise<{ unit: string; factor: number }[]> {
    const { snapshot } = await this.batcher.read({ skus: [sku] });
    return new CatalogView(snapshot.kits, snapshot.units).unitsOf(sku);
  }

  /**
   * Run `next` (the allocator) for a reservation request, after confirming what the sold-out
   * memory would refuse it for: the suspects are read in the shared statement (taken after this
   * request arrived) and each SKU with stock again is forgotten, right before `next` runs (nothing
   * can re-mark in between), so a restock acknowledged on any instance is never refused from
   * memory. A failed read forgets the suspects: the allocator then decides under its locks.
   */
  async soldOutChecked<T>(memory: SoldOutMemory, req: { lines: readonly { sku: string }[]; allowBackorder?: boolean | undefined }, next: () => Promise<T>): Promise<T> {
    const suspects = memory.suspects(req);
    if (suspects.length > 0) {
      let stocked: (sku: string) => boolean = () => true;
      try {
        const { snapshot } = await this.batcher.read({ skus: suspects });
        const positions = snapshot.slice(suspects).positions;
        stocked = (sku) => positions.some((p) => p.sku === sku && availableOf(p) > 0);
      } catch {
        /* the allocator decides */
      }
      for (const sku of suspects) if (stocked(sku)) memory.forget(sku);
    }
    return next();
  }

  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
