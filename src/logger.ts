/** Structured JSON logs (pino). Never log Authorization headers or keys: redaction is a backstop. */
import { context, trace } from '@opentelemetry/api';
import pino from 'pino';

export type Logger = pino.Logger;

/** The ids of the active span (empty outside one), so every log line joins its trace. */
export function traceFields(): { trace_id?: string; span_id?: string; trace_flags?: string } {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return {};
  return { trace_id: sc.traceId, span_id: sc.spanId, trace_flags: `0${sc.traceFlags.toString(16)}`.slice(-2) };
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'atp-service' },
      mixin: traceFields,
      redact: { paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'apiKey', 'key'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * An error for the log without drizzle's query parameters (which can carry caller data). Drizzle's
 * message is `Failed query: <sql>\nparams: <values>`, and V8 repeats the message at the head of the
 * stack, so the stack keeps only what follows that head (the frames). A parameter cannot forge its
 * way out: the cut is by the exact message, not by a pattern the values could contain.
 */
export function safeError(err: unknown) {
  const e = err as { name?: string; message?: string; stack?: string; cause?: unknown; code?: string };
  const cause = e?.cause as { message?: string; code?: string } | undefined;
  const message = typeof e?.message === 'string' ? e.message : undefined;
  const redacted = message?.includes('\nparams:') ? `${message.split('\nparams:')[0]}\nparams: [redacted]` : message;
  let stack: string | undefined;
  if (typeof e?.stack === 'string') {
    const head = `${e.name ?? 'Error'}: ${message ?? ''}`;
    if (e.stack.startsWith(head)) stack = `${e.name ?? 'Error'}: ${redacted ?? ''}${e.stack.slice(head.length)}`;
    else if (message && !e.stack.includes(message)) stack = e.stack;
    else stack = '[stack withheld: it repeats the message in an unexpected form]';
  }
  return { name: e?.name, message: redacted, code: e?.code ?? cause?.code, cause: cause?.message, stack };
}
