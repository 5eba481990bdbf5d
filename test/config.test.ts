/**
 * Configuration: one zod schema for every environment variable; a bad value stops the start with a
 * message naming each bad variable; defaults apply to what is unset or empty.
 */
import { expect, it } from 'vitest';
import { ConfigError, ConfigSchema, loadConfig } from '../src/config.js';

it('defaults: embedded PGlite, no Redis, no OTLP, 15 s shutdown bound', () => {
  const c = loadConfig({});
  expect(c).toMatchObject({ PORT: 8080, ATP_SHUTDOWN_TIMEOUT_MS: 15_000, OTEL_SERVICE_NAME: 'atp-service' });
  expect([c.DATABASE_URL, c.REDIS_URL, c.OTEL_EXPORTER_OTLP_ENDPOINT]).toEqual([undefined, undefined, undefined]);
  expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '  ', DATABASE_URL: '' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
});

it('a bad value stops the start with a message naming every bad variable', () => {
  const bad = { PORT: 'eighty', OTEL_EXPORTER_OTLP_ENDPOINT: 'grpc://collector:4317', ATP_SHUTDOWN_TIMEOUT_MS: '5', NODE_ENV: 'staging', DATABASE_URL: 'mysql://x/y' };
  let err: unknown;
  try {
    loadConfig(bad);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ConfigError);
  for (const name of Object.keys(bad)) expect((err as Error).message).toContain(`${name}:`);
});

it('every variable the schema knows is documented in docs/OPERATIONS.md', async () => {
  const { readFile } = await import('node:fs/promises');
  const doc = await readFile(new URL('../docs/OPERATIONS.md', import.meta.url), 'utf8');
  for (const name of Object.keys(ConfigSchema.shape)) expect(doc, name).toContain(`\`${name}\``);
});
