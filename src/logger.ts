/** Structured JSON logs (pino). Never log Authorization headers or keys: redaction is a backstop. */
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'atp-service' },
      redact: { paths: ['authorization', 'headers.authorization', 'req.headers.authorization', 'apiKey', 'key'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}
