/**
 * Natural batching. Requests are queued in lanes (one lane per key, e.g. the SKU set of a
 * reservation). A lane with a free slot runs its first request at once, as a batch of one;
 * requests that arrive while a lane's batches are in flight wait and go together as the next
 * batch — one transaction, one lock acquisition, one commit for many requests. A lane may have
 * `laneConcurrency` batches in flight (default 1): with 2, the next batch has already begun its
 * transaction and is queued on the row locks when the previous one commits, so the lock is never
 * idle during a client round trip (Postgres still serialises them; the lock queue is FIFO). Two
 * requests with the same dedupe key are never in flight in one lane at the same time. At most `concurrency`
 * batches run at once (across lanes); the total number of queued requests is bounded and excess
 * is shed with `Overloaded` (429) instead of waiting past any deadline.
 *
 * Load shedding by latency budget: each lane keeps a moving average of its batch duration; a new
 * request's wait is estimated as (the rest of the batch in flight) + (full batches queued ahead of
 * it) + (a slot wait when every transaction slot is busy), and when that estimate exceeds
 * `budgetMs` the request is refused at once with 429 + Retry-After — before anything is written —
 * instead of queueing into a timeout. The estimate is only a load-shedding heuristic: it decides
 * who waits, never what is allocated. While no batch is in flight the average decays back towards
 * the prior (half-life `idleHalfLifeMs`, 1 s): the slowness it measured (lock waits behind a long
 * receipt, a burst) may be over, and a stale figure must not shed the next burst for long. A batch
 * in flight for longer than the average counts as the current batch duration, so a batch that is
 * stuck raises the estimate at once, decayed average or not.
 *
 * Cold lanes share a batch (`mergeLanes`): when every slot is busy, lanes wait in line for one;
 * when a slot frees, the lane at the head of the line takes it and, if its batch is small (at most
 * `mergeLaneMax` requests — a cold SKU, not a hot one, which keeps its own batches), the small
 * batches of up to `mergeLanes - 1` more waiting lanes ride with it: one transaction for many SKUs
 * instead of one each (the executor locks in the global order). If that shared batch fails as a
 * whole (a lock timeout on one SKU, an outage), each lane's part is run again on its own, so one
 * SKU's failure never becomes another's answer.
 *
 * The batcher decides nothing about stock: it only groups work. Correctness stays in Postgres.
 */
import { Overloaded } from '../../domain/errors.js';

interface Item<Req, Res> {
  req: Req;
  resolve: (r: Res) => void;
  reject: (e: unknown) => void;
  enqueuedAt: number;
}

interface Lane<Req, Res> {
  key: string;
  queue: Item<Req, Res>[];
  /** batches in flight */
  running: number;
  waiting: boolean;
  /** when the oldest batch in flight started (the clock below) */
  startedAt: number;
  /** dedupe keys of the requests in flight */
  keys: Set<string>;
}

/** The lane key an executor is given for a batch that several lanes share. */
export const SHARED_LANE = '\u0000shared';

interface Part<Req, Res> {
  lane: Lane<Req, Res>;
  batch: Item<Req, Res>[];
}

export interface BatcherOptions<Req, Res> {
  /** runs one batch; `laneKey` is the lane's, or SHARED_LANE for lanes batched together */
  exec: (batch: Req[], laneKey: string) => Promise<Res[]>;
  /** lanes that may share one batch when they wait for a slot (default 1: never) */
  mergeLanes?: number;
  /** a lane joins a shared batch only with at most this many requests (default 8) */
  mergeLaneMax?: number;
  maxBatch: number;
  maxQueue: number;
  concurrency: number;
  /** batches of one lane in flight at once (default 1) */
  laneConcurrency?: number;
  /** requests with the same dedupe key never share a batch nor run concurrently (the later waits) */
  dedupeKey?: (req: Req) => string;
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
  /** shed a request whose estimated queue wait exceeds this many ms (undefined: never by time) */
  budgetMs?: number | undefined;
  /** the batch duration assumed before any batch has been measured (ms) */
  priorBatchMs?: number;
  /**
   * while nothing is in flight, the moving average halves its distance to the prior every this
   * many ms (default 1000: no faster than clients told `Retry-After: 1` come back, so a shed wave
   * returning is still estimated from what shed it)
   */
  idleHalfLifeMs?: number;
  /** the clock (ms, monotonic); performance.now() unless a test drives it */
  now?: () => number;
}

export class KeyedBatcher<Req, Res> {
  private lanes = new Map<string, Lane<Req, Res>>();
  private ready: Lane<Req, Res>[] = [];
  private running = 0;
  private queued = 0;
  private idle: (() => void)[] = [];
  private readonly laneConcurrency: number;
  /** moving average of batch durations (ms), across lanes */
  private batchMs: number;
  private readonly priorBatchMs: number;
  /** when the last batch in flight ended (undefined: something is in flight, or nothing ran yet) */
  private idleSince: number | undefined;
  private readonly now: () => number;
  /** requests refused by the latency budget or the queue bound */
  shed = 0;

  constructor(private readonly opts: BatcherOptions<Req, Res>) {
    this.priorBatchMs = opts.priorBatchMs ?? 10;
    this.batchMs = this.priorBatchMs;
    this.now = opts.now ?? (() => performance.now());
    this.laneConcurrency = Math.max(1, opts.laneConcurrency ?? 1);
  }

  /** Estimated ms a request submitted to this lane now would wait before its batch starts. */
  estimateWait(laneKey: string): number {
    const lane = this.lanes.get(laneKey);
    // lanes waiting for a slot are served `concurrency` batches at a time, each taking up to `mergeLanes` of them
    const perSlot = Math.max(1, this.opts.mergeLanes ?? 1);
    const slotWait = (pos: number) => (this.running >= this.opts.concurrency ? this.batchMs * Math.ceil(pos / (this.opts.concurrency * perSlot)) : 0);
    if (!lane) return slotWait(this.ready.length + 1);
    if (lane.running < this.laneConcurrency && lane.queue.length === 0) return lane.waiting ? slotWait(this.ready.indexOf(lane) + 1) : 0;
    // full batches queued ahead, served laneConcurrency at a time, behind the oldest batch in flight;
    // a batch in flight for longer than the average is evidence that batches are slower now
    // (a lock wait, a slow database): the estimate never takes them to be faster than that
    const elapsed = lane.running > 0 ? this.now() - lane.startedAt : 0;
    const perBatch = Math.max(this.batchMs, elapsed);
    const ahead = Math.floor(lane.queue.length / this.opts.maxBatch);
    let wait = (ahead * perBatch) / this.laneConcurrency;
    if (lane.running > 0) wait += Math.max(perBatch - elapsed, perBatch / 2);
    if (lane.waiting) wait += slotWait(this.ready.indexOf(lane) + 1);
    return wait;
  }

  get depth(): { queued: number; running: number; lanes: number } {
    return { queued: this.queued, running: this.running, lanes: this.lanes.size };
  }

  submit(laneKey: string, req: Req): Promise<Res> {
    if (this.queued >= this.opts.maxQueue) {
      this.shed++;
      return Promise.reject(new Overloaded(`${this.queued} requests are already waiting for allocation; retry shortly`, 1));
    }
    if (this.opts.budgetMs !== undefined) {
      const wait = this.estimateWait(laneKey);
      if (wait > this.opts.budgetMs) {
        this.shed++;
        return Promise.reject(
          new Overloaded(`the estimated wait for allocation (${Math.round(wait)} ms) exceeds the latency budget (${this.opts.budgetMs} ms); retry shortly`, Math.max(1, Math.ceil(wait / 1000))),
        );
      }
    }
    let lane = this.lanes.get(laneKey);
    if (!lane) {
      lane = { key: laneKey, queue: [], running: 0, waiting: false, startedAt: 0, keys: new Set() };
      this.lanes.set(laneKey, lane);
    }
    const l = lane;
    const promise = new Promise<Res>((resolve, reject) => l.queue.push({ req, resolve, reject, enqueuedAt: this.now() }));
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
    if (lane.running >= this.laneConcurrency || lane.waiting || lane.queue.length === 0) return;
    if (this.running >= this.opts.concurrency) {
      lane.waiting = true;
      this.ready.push(lane);
      return;
    }
    const batch = this.take(lane);
    if (batch.length === 0) return; // everything queued duplicates a request in flight: wait for it
    void this.run([{ lane, batch }, ...this.riders(batch.length)]);
  }

  /**
   * Small batches of lanes waiting for a slot that ride with a small batch about to run (see the
   * header): none unless `mergeLanes` > 1 and the batch is at most `mergeLaneMax` requests.
   */
  private riders(size: number): Part<Req, Res>[] {
    const merge = this.opts.mergeLanes ?? 1;
    const small = this.opts.mergeLaneMax ?? 8;
    const out: Part<Req, Res>[] = [];
    if (merge <= 1 || size > small) return out;
    let total = size;
    for (let i = 0; i < this.ready.length && out.length < merge - 1; ) {
      const lane = this.ready[i]!;
      if (lane.running > 0 || lane.queue.length > small || total + lane.queue.length > this.opts.maxBatch) {
        i++;
        continue;
      }
      const batch = this.take(lane);
      if (batch.length === 0) {
        i++;
        continue;
      }
      this.ready.splice(i, 1);
      lane.waiting = false;
      total += batch.length;
      out.push({ lane, batch });
    }
    return out;
  }

  private take(lane: Lane<Req, Res>): Item<Req, Res>[] {
    const { dedupeKey, maxBatch } = this.opts;
    if (!dedupeKey) return lane.queue.splice(0, maxBatch);
    const batch: Item<Req, Res>[] = [];
    const rest: Item<Req, Res>[] = [];
    for (const item of lane.queue) {
      if (batch.length >= maxBatch) {
        rest.push(item);
        continue;
      }
      const k = dedupeKey(item.req);
      if (!lane.keys.has(k)) {
        lane.keys.add(k);
        batch.push(item);
      } else rest.push(item);
    }
    lane.queue = rest;
    return batch;
  }

  /** The moving average now: while idle it decays towards the prior. */
  get averageBatchMs(): number {
    if (this.idleSince === undefined) return this.batchMs;
    const halfLife = this.opts.idleHalfLifeMs ?? 1000;
    const idle = Math.max(0, this.now() - this.idleSince);
    return this.priorBatchMs + (this.batchMs - this.priorBatchMs) * 0.5 ** (idle / halfLife);
  }

  /** Run one batch in one slot: one lane's, or several lanes' sharing it (`parts`). */
  private async run(parts: Part<Req, Res>[]) {
    if (this.running === 0 && this.idleSince !== undefined) {
      this.batchMs = this.averageBatchMs;
      this.idleSince = undefined;
    }
    for (const { lane, batch } of parts) {
      if (lane.running === 0) lane.startedAt = this.now();
      lane.running++;
      this.queued -= batch.length;
    }
    this.running++;
    const started = this.now();
    const size = parts.reduce((n, p) => n + p.batch.length, 0);
    // answers are settled only after every await, right before the bookkeeping below (same tick):
    // a caller that reacts to its answer at once already finds the lane free
    let settle: (() => void)[] = [];
    try {
      if (parts.length === 1) settle = [await this.execPart(parts[0]!)];
      else {
        const all = parts.flatMap((p) => p.batch);
        try {
          const results = await this.opts.exec(
            all.map((b) => b.req),
            SHARED_LANE,
          );
          settle = [() => all.forEach((b, i) => b.resolve(results[i]!))];
        } catch {
          // the shared batch failed as a whole: each lane's part on its own, so one SKU's failure stays its own
          for (const part of parts) settle.push(await this.execPart(part));
        }
      }
      for (const f of settle) f();
    } finally {
      const ms = this.now() - started;
      this.batchMs = this.batchMs * 0.8 + ms * 0.2;
      try {
        this.opts.onBatch?.({ lane: parts.length === 1 ? parts[0]!.lane.key : SHARED_LANE, size, waitedMs: started - Math.min(...parts.map((p) => p.batch[0]?.enqueuedAt ?? started)), ms });
      } catch {
        // an observer's failure must not leak the slot or lose the lane
      }
      this.running--;
      for (const { lane, batch } of parts) {
        if (this.opts.dedupeKey) for (const b of batch) lane.keys.delete(this.opts.dedupeKey(b.req));
        lane.running--;
        if (lane.running > 0) lane.startedAt = started; // approximately: the other batch started around then
        if (lane.queue.length === 0 && lane.running === 0) this.lanes.delete(lane.key);
        else if (this.ready.length > 0 && lane.queue.length > 0 && !lane.waiting) {
          // other lanes are waiting for a slot: this one goes to the back of the line, so one hot
          // SKU cannot starve every other lane of the shared slots
          lane.waiting = true;
          this.ready.push(lane);
        } else this.schedule(lane);
      }
      while (this.running < this.opts.concurrency && this.ready.length > 0) {
        const next = this.ready.shift()!;
        next.waiting = false;
        this.schedule(next);
      }
      if (this.running === 0) this.idleSince = this.now();
      if (this.queued === 0 && this.running === 0) for (const r of this.idle.splice(0)) r();
    }
  }

  /** One lane's batch; returns what settles it: each request its result, or all the batch's error. */
  private async execPart({ lane, batch }: Part<Req, Res>): Promise<() => void> {
    try {
      const results = await this.opts.exec(
        batch.map((b) => b.req),
        lane.key,
      );
      return () => batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (err) {
      return () => batch.forEach((b) => b.reject(err));
    }
  }
}
