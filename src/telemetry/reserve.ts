/**
 * Around the reservation path: an `atp.reserve` span per reservation request and its outcome
 * metric, and an `atp.batch` span for the batch it rode in (attribute `atp.batch.size`; parented
 * to the first request of the batch and linked to every other one). A span not sampled is not
 * recording, and the per-request work around it (batch links, context switches) is skipped too.
 */
import { type Context, context, ROOT_CONTEXT, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { DomainError } from '../domain/errors.js';
import type { Metrics } from './metrics.js';

interface PendingReserve {
  span: Span;
  ctx: Context;
}

export type ReserveOutcome = { ok: true; result: { replayed?: boolean } } | { ok: false; error: DomainError };

export class ReserveTracing {
  private readonly pending = new WeakMap<object, PendingReserve>();

  /** `tracer` undefined: nothing exports spans, only the outcome metric is recorded. */
  constructor(
    private readonly tracer: Tracer | undefined,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Around one reservation request (call site: the route): an `atp.reserve` span, remembered by
   * command object so the batch that carries it can link to it; records the outcome metric.
   */
  async reserve<R extends ReserveOutcome>(cmd: { channel: string }, fn: () => Promise<R>): Promise<R> {
    if (!this.tracer || !trace.getSpan(context.active())?.isRecording()) return this.countReserve(cmd.channel, fn);
    const span = this.tracer.startSpan('atp.reserve', { attributes: { 'atp.channel': cmd.channel } });
    const ctx = trace.setSpan(context.active(), span);
    this.pending.set(cmd, { span, ctx });
    const channel = this.metrics.channelLabel(cmd.channel);
    try {
      const r = await context.with(ctx, fn);
      const outcome = r.ok ? (r.result.replayed ? 'replayed' : 'reserved') : r.error.code;
      span.setAttribute('atp.outcome', outcome);
      this.metrics.reservations.add(1, { outcome, channel });
      return r;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const outcome = typeof code === 'string' && /^[a-z-]+$/.test(code) ? code : 'error';
      span.setAttribute('atp.outcome', outcome);
      span.setStatus({ code: SpanStatusCode.ERROR });
      this.metrics.reservations.add(1, { outcome, channel });
      throw err;
    } finally {
      this.pending.delete(cmd);
      span.end();
    }
  }

  /** The outcome metric of one reservation request, without a span. */
  private async countReserve<R extends ReserveOutcome>(channel: string, fn: () => Promise<R>): Promise<R> {
    const label = this.metrics.channelLabel(channel);
    let outcome = 'error';
    try {
      const r = await fn();
      outcome = r.ok ? (r.result.replayed ? 'replayed' : 'reserved') : r.error.code;
      return r;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && /^[a-z-]+$/.test(code)) outcome = code;
      throw err;
    } finally {
      this.metrics.reservations.add(1, { outcome, channel: label });
    }
  }

  /**
   * The allocator's `wrapBatch` hook: an `atp.batch` span (attribute `atp.batch.size`) for one
   * allocation batch, child of the first request's `atp.reserve` span and linked to the others;
   * each request's span gets the batch size and a link back. `run` executes inside the batch span.
   */
  readonly wrapBatch = async <T>(batch: readonly object[], run: () => Promise<T>): Promise<T> => {
    const recs = batch.map((cmd) => this.pending.get(cmd));
    const first = recs.find((r) => r !== undefined);
    if (!first || !this.tracer) return run(); // no request of this batch is traced
    const parent = first?.ctx ?? ROOT_CONTEXT;
    const links = recs.filter((r): r is PendingReserve => r !== undefined && r !== first).map((r) => ({ context: r.span.spanContext() }));
    const span = this.tracer.startSpan('atp.batch', { attributes: { 'atp.batch.size': batch.length }, links }, parent);
    for (const r of recs) {
      if (!r) continue;
      r.span.setAttribute('atp.batch.size', batch.length);
      if (r !== first) r.span.addLink({ context: span.spanContext() });
    }
    try {
      return await context.with(trace.setSpan(parent, span), run);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
      throw err;
    } finally {
      span.end();
    }
  };
}
