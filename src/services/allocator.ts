/**
 * The front door of allocation: queues each reservation request in the lane of its SKU set
 * (natural batching, see batcher.ts) and runs each batch through `reserveBatch` under the rules
 * in force when the batch starts.
 */
import type { Db } from '../db/client.js';
import type { RulesStore } from '../rules/store.js';
import { KeyedBatcher } from './batcher.js';
import { type BatchReport, type ReserveCommand, type ReserveResult, reserveBatch } from './reserve.js';

export interface AllocatorOptions {
  maxBatch: number;
  maxQueue: number;
  concurrency: number;
  retries: number;
  onBatch?: (info: { lane: string; size: number; waitedMs: number; ms: number }) => void;
  /** called after each committed batch with what it saw (e.g. to remember sold-out SKUs) */
  onReport?: (report: BatchReport) => void;
  /** runs each batch (e.g. inside a tracing span); default: run it directly */
  wrapBatch?: <T>(batch: readonly ReserveCommand[], run: () => Promise<T>) => Promise<T>;
}

export const laneOf = (cmd: Pick<ReserveCommand, 'lines'>) => [...new Set(cmd.lines.map((l) => l.sku))].sort().join('\n');

export class Allocator {
  private readonly batcher: KeyedBatcher<ReserveCommand, ReserveResult>;

  constructor(db: Db, rules: RulesStore, opts: AllocatorOptions) {
    this.batcher = new KeyedBatcher<ReserveCommand, ReserveResult>({
      maxBatch: opts.maxBatch,
      maxQueue: opts.maxQueue,
      concurrency: opts.concurrency,
      dedupeKey: (c) => `${c.caller}\u0000${c.idempotencyKey}`,
      onBatch: opts.onBatch,
      exec: async (batch) => {
        const run = async () => {
          const report = await reserveBatch(db, rules.current(), batch, opts.retries);
          opts.onReport?.(report);
          return report.results;
        };
        return opts.wrapBatch ? opts.wrapBatch(batch, run) : run();
      },
    });
  }

  reserve(cmd: ReserveCommand): Promise<ReserveResult> {
    return this.batcher.submit(laneOf(cmd), cmd);
  }

  get depth() {
    return this.batcher.depth;
  }

  /** Wait until every queued and in-flight batch has committed (graceful shutdown). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
