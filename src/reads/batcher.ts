/**
 * Read batching (issue 15): reads that arrive while read statements are in flight join the next
 * one. Up to `concurrency` statements run at once, each on its own connection of the read pool
 * (never behind a reservation batch: the write path has its own pool); the requests waiting when
 * a slot frees go out together as ONE statement (src/reads/snapshot.ts) over the union of their
 * SKUs (`= any($1)`), and each request reads its part of the shared snapshot.
 *
 * Read-your-writes: a request only ever joins a statement that has not been sent yet, so its
 * snapshot is taken after the request arrived and sees every write acknowledged before that.
 *
 * Load shedding: at most `maxQueue` requests wait; past that a read is refused at once with 429
 * overloaded + Retry-After (nothing waits for seconds). A statement that fails fails the reads
 * that rode on it (the caller maps the error: 503 when Postgres is unreachable).
 */
import type { Clock } from '../db/clock.js';
import type { ReadStatement } from '../db/client.js';
import { Overloaded } from '../domain/errors.js';
import type { RulesDocument } from '../contract/rules.js';
import type { ReadRules } from './rules.js';
import { readSnapshot, type Snapshot } from './snapshot.js';

export interface ReadRequest {
  /** requested SKUs (kits bring their components) */
  skus: readonly string[];
  /** location ids to check for existence (lines pinned to a location) */
  locations?: readonly string[] | undefined;
}

export interface ReadResult {
  snapshot: Snapshot;
  /** the rules in force at the snapshot (never older than the latest version it saw) */
  rules: RulesDocument;
}

export interface ReadBatcherOptions {
  /** runs the read statement on the read pool */
  exec: ReadStatement;
  rules: ReadRules;
  /** read statements in flight at once (the read pool's size) */
  concurrency: number;
  /** most reads waiting for a statement; past it: 429 */
  maxQueue: number;
  /** most SKUs in one statement (more wait for the next) */
  maxSkus: number;
  clock?: Clock | undefined;
  /** observe each statement (size in requests and SKUs, duration) */
  onStatement?: (info: { requests: number; skus: number; ms: number }) => void;
}

interface Waiting {
  req: ReadRequest;
  resolve: (r: ReadResult) => void;
  reject: (e: unknown) => void;
}

export class ReadBatcher {
  private waiting: Waiting[] = [];
  private inFlight = 0;
  private scheduled = false;
  private idle: (() => void)[] = [];
  /** reads refused because the queue was full */
  shed = 0;
  statements = 0;

  constructor(private readonly opts: ReadBatcherOptions) {}

  /** Read the snapshot of `req`'s SKUs. Rejects with Overloaded (429) when the queue is full. */
  read(req: ReadRequest): Promise<ReadResult> {
    if (this.waiting.length >= this.opts.maxQueue) {
      this.shed++;
      return Promise.reject(new Overloaded(`${this.waiting.length} reads are already waiting for a read statement; retry shortly`, 1));
    }
    return new Promise<ReadResult>((resolve, reject) => {
      this.waiting.push({ req, resolve, reject });
      this.schedule();
    });
  }

  get depth(): { waiting: number; inFlight: number; shed: number; statements: number } {
    return { waiting: this.waiting.length, inFlight: this.inFlight, shed: this.shed, statements: this.statements };
  }

  /** Resolves when nothing waits and nothing is in flight. */
  drain(): Promise<void> {
    if (this.waiting.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private schedule(): void {
    if (this.scheduled || this.waiting.length === 0 || this.inFlight >= this.opts.concurrency) return;
    this.scheduled = true;
    // after the current I/O phase: every request parsed in it rides on the same statement
    setImmediate(() => {
      this.scheduled = false;
      while (this.waiting.length > 0 && this.inFlight < this.opts.concurrency) void this.run(this.take());
    });
  }

  /** The next batch: waiting requests in arrival order up to maxSkus SKUs (at least one request). */
  private take(): Waiting[] {
    const batch: Waiting[] = [];
    let skus = 0;
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (batch.length > 0 && skus + next.req.skus.length > this.opts.maxSkus) break;
      skus += next.req.skus.length;
      batch.push(this.waiting.shift()!);
    }
    return batch;
  }

  private async run(batch: Waiting[]): Promise<void> {
    this.inFlight++;
    const skus = new Set<string>();
    const locations = new Set<string>();
    for (const w of batch) {
      for (const s of w.req.skus) skus.add(s);
      for (const l of w.req.locations ?? []) locations.add(l);
    }
    const t0 = performance.now();
    try {
      const snapshot = await readSnapshot(this.opts.exec, [...skus], this.opts.rules.known(), [...locations], this.opts.clock);
      const rules = this.opts.rules.resolve(snapshot.rules);
      this.statements++;
      this.opts.onStatement?.({ requests: batch.length, skus: skus.size, ms: performance.now() - t0 });
      for (const w of batch) w.resolve({ snapshot, rules });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.inFlight--;
      this.schedule();
      if (this.waiting.length === 0 && this.inFlight === 0) for (const r of this.idle.splice(0)) r();
    }
  }
}
