/**
 * Natural batching. Requests are queued in lanes (one lane per key, e.g. the SKU set of a
 * reservation). A lane with nothing in flight runs its first request at once, as a batch of one;
 * requests that arrive while a lane's batch is in flight wait and go together as the next batch —
 * one transaction, one lock acquisition, one commit for many requests. At most `concurrency`
 * batches run at once (across lanes); the total number of queued requests is bounded and excess
 * is shed with `Overloaded` (429) instead of waiting past any deadline.
 *
 * The batcher decides nothing about stock: it only groups work. Correctness stays in Postgres.
 */
import { Overloaded } from '../domain/errors.js';

interface Item<Req, Res> {
  req: Req;
  resolve: (r: Res) => void;
  reject: (e: unknown) => void;
  enqueuedAt: number;
}

interface Lane<Req, Res> {
  key: string;
  queue: Item<Req, Res>[];
  running: boolean;
  waiting: boolean;
}

export interface BatcherOptions<Req, Res> {
  exec: (batch: Req[], laneKey: string) => Promise<Res[]>;
  maxBatch: number;
  maxQueue: number;
  concurrency: number;
  /** requests with the same dedupe key never share a batch (the later waits for the next one) */
  dedupeKey?: (req: Req) => string;
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
}

export class KeyedBatcher<Req, Res> {
  private lanes = new Map<string, Lane<Req, Res>>();
  private ready: Lane<Req, Res>[] = [];
  private running = 0;
  private queued = 0;
  private idle: (() => void)[] = [];

  constructor(private readonly opts: BatcherOptions<Req, Res>) {}

  get depth(): { queued: number; running: number; lanes: number } {
    return { queued: this.queued, running: this.running, lanes: this.lanes.size };
  }

  submit(laneKey: string, req: Req): Promise<Res> {
    if (this.queued >= this.opts.maxQueue) {
      return Promise.reject(new Overloaded(`${this.queued} requests are already waiting for allocation; retry shortly`, 1));
    }
    let lane = this.lanes.get(laneKey);
    if (!lane) {
      lane = { key: laneKey, queue: [], running: false, waiting: false };
      this.lanes.set(laneKey, lane);
    }
    const promise = new Promise<Res>((resolve, reject) => lane.queue.push({ req, resolve, reject, enqueuedAt: performance.now() }));
    this.queued++;
    this.schedule(lane);
    return promise;
  }

  /** Resolves when nothing is queued or in flight (graceful shutdown). */
  drain(): Promise<void> {
    if (this.queued === 0 && this.running === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private schedule(lane: Lane<Req, Res>) {
    if (lane.running || lane.waiting || lane.queue.length === 0) return;
    if (this.running >= this.opts.concurrency) {
      lane.waiting = true;
      this.ready.push(lane);
      return;
    }
    void this.run(lane);
  }

  private take(lane: Lane<Req, Res>): Item<Req, Res>[] {
    const { dedupeKey, maxBatch } = this.opts;
    if (!dedupeKey) return lane.queue.splice(0, maxBatch);
    const seen = new Set<string>();
    const batch: Item<Req, Res>[] = [];
    const rest: Item<Req, Res>[] = [];
    for (const item of lane.queue) {
      const k = dedupeKey(item.req);
      if (batch.length < maxBatch && !seen.has(k)) {
        seen.add(k);
        batch.push(item);
      } else rest.push(item);
    }
    lane.queue = rest;
    return batch;
  }

  private async run(lane: Lane<Req, Res>) {
    lane.running = true;
    this.running++;
    const batch = this.take(lane);
    this.queued -= batch.length;
    const started = performance.now();
    try {
      const results = await this.opts.exec(batch.map((b) => b.req), lane.key);
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (err) {
      for (const b of batch) b.reject(err);
    } finally {
      this.opts.onBatch?.({ lane: lane.key, size: batch.length, waitedMs: started - (batch[0]?.enqueuedAt ?? started), ms: performance.now() - started });
      lane.running = false;
      this.running--;
      if (lane.queue.length === 0) this.lanes.delete(lane.key);
      else this.schedule(lane);
      while (this.running < this.opts.concurrency && this.ready.length > 0) {
        const next = this.ready.shift()!;
        next.waiting = false;
        this.schedule(next);
      }
      if (this.queued === 0 && this.running === 0) for (const r of this.idle.splice(0)) r();
    }
  }
}
