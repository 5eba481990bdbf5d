/**
 * The HTTP middleware of the telemetry (outermost): one SERVER span per request (named
 * `METHOD /route/{template}`) when tracing, and one latency observation per request always.
 * Without an exporter no span is made; a caller's `traceparent` is still made the active context,
 * so log lines join the caller's trace.
 */
import { type Attributes, context, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { parentFromTraceparent } from './context.js';
import type { Metrics } from './metrics.js';

/** Hono middleware: one SERVER span (with `tracer`) and one latency observation per request. */
export function httpMiddleware(tracer: Tracer | undefined, metrics: Metrics): MiddlewareHandler {
  if (!tracer) return untracedHttpMiddleware(metrics);
  return async (c, next) => {
    const method = c.req.method;
    const parent = parentFromTraceparent(c.req.header('traceparent'));
    const span = tracer.startSpan(method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': c.req.path } }, parent);
    const started = performance.now();
    try {
      await context.with(trace.setSpan(parent, span), next);
    } finally {
      const status = c.res.status;
      const route = [...matchedRoutes(c)].reverse().find((r) => r.method !== 'ALL')?.path;
      const attrs: Attributes = { 'http.request.method': method, 'http.response.status_code': status };
      if (route) {
        attrs['http.route'] = route;
        span.updateName(`${method} ${route}`);
      }
      const requestId = (c.get as (k: string) => unknown)('requestId');
      span.setAttributes({ ...attrs, ...(typeof requestId === 'string' ? { 'atp.request_id': requestId } : {}) });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      metrics.requestDuration.record((performance.now() - started) / 1000, attrs);
    }
  };
}

/** Without an exporter: the latency metric, and the caller's trace as the active context for logs. */
function untracedHttpMiddleware(metrics: Metrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      const traceparent = c.req.header('traceparent');
      if (traceparent) await context.with(parentFromTraceparent(traceparent), next);
      else await next();
    } finally {
      const route = [...matchedRoutes(c)].reverse().find((r) => r.method !== 'ALL')?.path;
      const attrs: Attributes = { 'http.request.method': c.req.method, 'http.response.status_code': c.res.status };
      if (route) attrs['http.route'] = route;
      metrics.requestDuration.record((performance.now() - started) / 1000, attrs);
    }
  };
}
