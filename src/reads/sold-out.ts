/**
 * Sold-out memory: SKUs that a committed allocation batch saw with nothing available at any
 * location. While a SKU is remembered, a request that needs it on hand (no backorder) can be
 * refused with 409 insufficient-stock without taking the SKU's row locks.
 *
 * Contract (why it can never oversell and never wrongly refuse for long):
 * - it can only REFUSE: `shortLines` returns the lines to refuse with or undefined ("ask the
 *   database"); nothing here can accept a request — every acceptance comes from reserveBatch
 *   under the row locks;
 * - any local change that could add availability (inventory PUT, release, expiry, commit, supply
 *   receipt, rules…) calls `invalidate()`, which forgets everything and bumps the generation;
 *   a batch that started before an invalidation cannot re-mark (it passes the generation it
 *   started under to `mark`), so a stale "sold out" seen before a restock is never remembered;
 * - other instances may release or restock at any time and we hear nothing of it, so the memory
 *   never refuses on its own: before a request the memory would refuse goes to the allocator,
 *   the read path confirms its `suspects` in a shared read statement that starts after the
 *   request arrived (src/reads/reader.ts `soldOutChecked`) and `forget`s every SKU that has stock
 *   again — a restock acknowledged on any instance before the request is never refused from
 *   here. Entries also expire after `ttlMs`.
 */
import type { ShortLine } from '../domain/errors.js';

export interface SoldOutOptions {
  ttlMs: number;
  /** clock (ms); injectable for tests */
  now?: () => number;
  /** most SKUs remembered at once (oldest forgotten first) */
  maxEntries?: number;
}

export class SoldOutMemory {
  private readonly until = new Map<string, number>();
  private gen = 0;
  private readonly now: () => number;
  private readonly max: number;
  /** answers given from memory (for metrics) */
  hits = 0;

  constructor(private readonly opts: SoldOutOptions) {
    this.now = opts.now ?? (() => performance.now());
    this.max = opts.maxEntries ?? 100_000;
  }

  get generation(): number {
    return this.gen;
  }

  get size(): number {
    return this.until.size;
  }

  /** Remember `sku` as sold out, as seen by a batch that started under `generation`. */
  mark(sku: string, generation: number): void {
    if (this.opts.ttlMs <= 0 || generation !== this.gen) return;
    this.until.delete(sku);
    if (this.until.size >= this.max) this.until.delete(this.until.keys().next().value!);
    this.until.set(sku, this.now() + this.opts.ttlMs);
  }

  /** A batch saw stock at `sku` (e.g. a restock elsewhere): forget it. */
  forget(sku: string): void {
    this.until.delete(sku);
  }

  isSoldOut(sku: string): boolean {
    const t = this.until.get(sku);
    if (t === undefined) return false;
    if (this.now() >= t) {
      this.until.delete(sku);
      return false;
    }
    return true;
  }

  /**
   * The SKUs of this request that memory would refuse it for (none when it may backorder);
   * unlike `shortLines` it counts no hit. The read path confirms them before the allocator asks.
   */
  suspects(req: { lines: readonly { sku: string }[]; allowBackorder?: boolean | undefined }): string[] {
    if (req.allowBackorder || this.until.size === 0) return [];
    return [...new Set(req.lines.map((l) => l.sku))].filter((sku) => this.isSoldOut(sku));
  }

  /** Something may have added availability: forget everything; batches in flight may not re-mark. */
  invalidate(): void {
    this.gen++;
    this.until.clear();
  }

  /**
   * The short lines to refuse this request with, if every unit it needs on hand is known to be
   * gone; undefined means "ask the database". Requests that may backorder always go to the
   * database (inbound supply is not tracked here).
   */
  shortLines(req: { lines: readonly { sku: string; qty: number }[]; allowBackorder?: boolean | undefined }): ShortLine[] | undefined {
    if (req.allowBackorder || this.until.size === 0) return undefined;
    let short: ShortLine[] | undefined;
    for (const l of req.lines) {
      if (!this.isSoldOut(l.sku)) continue;
      short ??= [];
      const prev = short.find((s) => s.sku === l.sku);
      if (prev) prev.requested += l.qty;
      else short.push({ sku: l.sku, requested: l.qty, available: 0, reason: 'insufficient-stock' });
    }
    if (short) this.hits++;
    return short;
  }
}
