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

/** the message loadConfig throws for `env`, or '' when it is accepted */
function refusal(env: Record<string, string>): string {
  try {
    loadConfig(env);
    return '';
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
}

it('DATABASE_URL: a replicated cluster as several host:port with target_session_attrs', () => {
  const multi = 'postgres://atp@127.0.0.1:5001,127.0.0.1:5002,127.0.0.1:5003/atp?target_session_attrs=primary';
  expect(loadConfig({ DATABASE_URL: multi }).DATABASE_URL).toBe(multi);
  // read-write is asked of postgres.js as primary (postgres.js 3.4 would take a PG ≥ 14 hot standby for read-write)
  expect(loadConfig({ DATABASE_URL: 'postgres://atp@db1:5432,db2:5433/atp?target_session_attrs=read-write' }).DATABASE_URL).toBe(
    'postgres://atp@db1:5432,db2:5433/atp?target_session_attrs=primary',
  );
  expect(loadConfig({ DATABASE_URL: 'postgresql://u:p%40ss@db1.internal,db2.internal:6432/atp?sslmode=require&target_session_attrs=read-write&application_name=x' }).DATABASE_URL).toBe(
    'postgresql://u:p%40ss@db1.internal,db2.internal:6432/atp?sslmode=require&target_session_attrs=primary&application_name=x',
  );
  // one host: as before
  for (const one of ['postgres://postgres@localhost:5432/atp', 'postgres:///atp', 'postgres://u@[::1]:5432/atp', 'postgresql://db/atp?target_session_attrs=read-only'])
    expect(loadConfig({ DATABASE_URL: one }).DATABASE_URL).toBe(one);
});

it('DATABASE_URL: malformed hosts, ports and session attributes are refused with the reason', () => {
  const cases: [string, string][] = [
    ['postgres://u@h1:5432,h2:5432/atp', 'several hosts needs target_session_attrs=read-write'],
    ['postgres://u@h1:5432,h2:5432/atp?target_session_attrs=read-only', 'several hosts needs target_session_attrs=read-write'],
    ['postgres://u@h1:99999,h2/atp?target_session_attrs=primary', 'port out of 1–65535'],
    ['postgres://u@h1:5432,/atp?target_session_attrs=primary', 'host "" is not host:port'],
    ['postgres://u@h1:54x2,h2/atp?target_session_attrs=primary', 'is not host:port'],
    ['postgres://u@[::1]:5432,h2:5432/atp?target_session_attrs=primary', 'IPv6 addresses are not supported in a multi-host URL'],
    ['postgres://u@h/atp?target_session_attrs=any', 'target_session_attrs=any: expected one of'],
    ['mysql://h1:3306,h2/atp', 'expected postgres://'],
  ];
  for (const [url, reason] of cases) {
    const message = refusal({ DATABASE_URL: url });
    expect(message, url).toContain('DATABASE_URL:');
    expect(message, url).toContain(reason);
  }
});

it('Redis under Sentinel: REDIS_SENTINELS=host:port,… with REDIS_SENTINEL_NAME', () => {
  const c = loadConfig({ REDIS_SENTINELS: '10.0.0.1:26379, sentinel-b:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'atp' });
  expect(c.REDIS_SENTINELS).toEqual([
    { host: '10.0.0.1', port: 26379 },
    { host: 'sentinel-b', port: 26380 },
    { host: '::1', port: 26381 },
  ]);
  expect([c.REDIS_SENTINEL_NAME, c.REDIS_URL]).toEqual(['atp', undefined]);
  expect(loadConfig({ REDIS_SENTINELS: '', REDIS_SENTINEL_NAME: ' ', REDIS_URL: 'redis://r:6379' }).REDIS_SENTINELS).toBeUndefined();
});

it('Redis under Sentinel: both ways at once, a missing half or a malformed sentinel is refused naming the variables', () => {
  const both = refusal({ REDIS_URL: 'redis://r:6379', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'atp' });
  expect(both).toContain('REDIS_SENTINELS: REDIS_URL and REDIS_SENTINELS are mutually exclusive');
  expect(refusal({ REDIS_SENTINELS: 's1:26379' })).toContain('REDIS_SENTINEL_NAME: REDIS_SENTINELS needs REDIS_SENTINEL_NAME');
  expect(refusal({ REDIS_SENTINEL_NAME: 'atp' })).toContain('REDIS_SENTINEL_NAME: REDIS_SENTINEL_NAME is set but REDIS_SENTINELS is not');
  expect(refusal({ REDIS_SENTINELS: 's1:26379,s2', REDIS_SENTINEL_NAME: 'atp' })).toContain('REDIS_SENTINELS: expected host:port,host:port,… of the sentinels; "s2" has no port');
  expect(refusal({ REDIS_SENTINELS: 's1:0', REDIS_SENTINEL_NAME: 'atp' })).toContain('"s1:0": port out of 1–65535');
  expect(refusal({ REDIS_SENTINELS: 'redis://s1:26379', REDIS_SENTINEL_NAME: 'atp' })).toContain('REDIS_SENTINELS: expected host:port');
  expect(refusal({ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_NAME: 'my master' })).toContain('REDIS_SENTINEL_NAME: a sentinel master name');
});
