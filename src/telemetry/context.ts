/**
 * Trace context propagation: one process-wide AsyncLocalStorage context manager (the OTel API
 * allows exactly one; registered once, whatever number of Telemetry instances the tests make) and
 * the caller's W3C `traceparent` read as a remote parent.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';

/** Process-wide AsyncLocalStorage context manager (the API allows exactly one). */
class AlsContextManager implements ContextManager {
  private readonly als = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.als.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.als.run(ctx, () => fn.apply(thisArg, args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const fn = target as unknown as (...a: unknown[]) => unknown;
    return ((...a: unknown[]) => this.with(ctx, fn, undefined, ...a)) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.als.disable();
    return this;
  }
}
let contextManagerRegistered = false;
export function ensureContextManager() {
  if (contextManagerRegistered) return;
  contextManagerRegistered = true;
  context.setGlobalContextManager(new AlsContextManager());
}

/** W3C `traceparent` → a remote parent context (version 00 only; anything else is ignored). */
export function parentFromTraceparent(header: string | undefined): Context {
  const m = header ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return ROOT_CONTEXT;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true });
}
