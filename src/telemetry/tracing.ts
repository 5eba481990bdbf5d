/**
 * Tracing: the tracer provider (spans are made only when something exports them: a test's span
 * exporter and/or OTLP/HTTP; otherwise nothing is sampled and the call sites do not start spans),
 * and the spans around I/O: a traced drizzle Db (one span per transaction attempt or autocommit
 * statement), client spans for Redis commands made inside a traced operation, and a generic
 * internal span. Nothing here ever records keys, headers, arguments or request bodies.
 */
import { type Attributes, context, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Resource } from '@opentelemetry/resources';
import { AlwaysOffSampler, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Db } from '../db/client.js';

export interface Tracing {
  readonly provider: NodeTracerProvider;
  readonly tracer: Tracer;
  /** true when a span exporter is configured: only then are spans made */
  readonly tracing: boolean;
}

/** The tracer provider: `spanExporter` exported span by span, OTLP/HTTP batched when `otlpBase` is set; neither → sample nothing. */
export function createTracing(resource: Resource, otlpBase: string | undefined, spanExporter: SpanExporter | undefined): Tracing {
  const spanProcessors: SpanProcessor[] = [];
  if (spanExporter) spanProcessors.push(new SimpleSpanProcessor(spanExporter));
  if (otlpBase) spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${otlpBase}/v1/traces` })));
  const tracing = spanProcessors.length > 0;
  // nothing exports spans: sample nothing (the few call sites do not even start them)
  const provider = new NodeTracerProvider({ resource, spanProcessors, ...(tracing ? {} : { sampler: new AlwaysOffSampler() }) });
  return { provider, tracer: provider.getTracer('atp-service'), tracing };
}

/** A drizzle Db whose `transaction()` runs inside a span named `spanName` (one per attempt). */
export function traceDb(tracer: Tracer, db: Db, spanName: string, statementSpanName: string): Db {
  return new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown;
      // a transaction, or a statement run on its own (autocommit: the guarded batch, a replay lookup)
      if ((prop === 'transaction' || prop === 'execute') && typeof value === 'function') {
        const name = prop === 'transaction' ? spanName : statementSpanName;
        return (fn: unknown, config?: unknown) =>
          tracer.startActiveSpan(name, { attributes: { 'db.system.name': 'postgresql' } }, async (span) => {
            try {
              return await (value as (f: unknown, c?: unknown) => Promise<unknown>).call(target, fn, config);
            } catch (err) {
              const code = (err as { code?: unknown; cause?: { code?: unknown } }).code ?? (err as { cause?: { code?: unknown } }).cause?.code;
              if (typeof code === 'string') span.setAttribute('db.response.status_code', code);
              span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
              throw err;
            } finally {
              span.end();
            }
          });
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * Client spans for the commands of an ioredis client, only when a traced operation is active
 * (background polling makes no root spans). Records the command name only, never arguments.
 */
export function instrumentRedis<C extends { sendCommand: (command: never, ...rest: never[]) => unknown }>(tracer: Tracer, client: C): C {
  const original = client.sendCommand;
  client.sendCommand = function (this: C, command: { name: string; promise: Promise<unknown> }, ...rest: unknown[]) {
    if (!trace.getSpan(context.active())) return (original as (...a: unknown[]) => unknown).call(this, command, ...rest);
    const span = tracer.startSpan(`redis ${command.name}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': command.name } });
    const out = context.with(trace.setSpan(context.active(), span), () => (original as (...a: unknown[]) => unknown).call(this, command, ...rest));
    command.promise.then(
      () => span.end(),
      (err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
        span.end();
      },
    );
    return out;
  } as unknown as C['sendCommand'];
  return client;
}

/** Run `fn` in an internal span (root when nothing is active). */
export async function inSpan<T>(tracer: Tracer, name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name });
      throw err;
    } finally {
      span.end();
    }
  });
}
