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
 * way out: the cut is by the exact message, not by a pattern the values could contain. Causes go
 * through the same cut (a drizzle error can wrap another); a stack whose head is not the message
 * as V8 writes it is withheld; a thrown non-object is logged by type only.
 */
export function safeError(err: unknown, depth = 0): { name?: string | undefined; message?: string | undefined; code?: unknown; cause?: string | undefined; stack?: string | undefined } {
  if (err === null || (typeof err !== 'object' && typeof err !== 'function')) return { name: `thrown ${err === null ? 'null' : typeof err}` };
  const e = err as { name?: unknown; message?: unknown; stack?: unknown; cause?: unknown; code?: unknown };
  const name = typeof e.name === 'string' ? e.name : undefined;
  const message = typeof e.message === 'string' ? e.message : undefined;
  const redacted = message?.includes('\nparams:') ? `${message.split('\nparams:')[0]}\nparams: [redacted]` : message;
  let stack: string | undefined;
  if (typeof e.stack === 'string') {
    // V8: "Name: message" then the frames; just "Name" when the message is empty
    const head = message ? `${name ?? 'Error'}: ${message}` : (name ?? 'Error');
    if (message !== undefined && e.stack.startsWith(head)) stack = `${message ? `${name ?? 'Error'}: ${redacted}` : head}${e.stack.slice(head.length)}`;
    else stack = '[stack withheld: it does not start with the message]';
  }
  const cause = e.cause !== undefined && depth < 3 ? safeError(e.cause, depth + 1) : undefined;
  const causeCode = cause && typeof cause.code === 'string' ? cause.code : undefined;
  return { name, message: redacted, code: e.code ?? causeCode, cause: cause?.message ?? cause?.name, stack };
}
