/**
 * GET /metrics when an observable callback fails: the series of that callback is left out and
 * every other series is still served (Telemetry.metricsText). Here the rules source throws (the
 * three rules gauges read it) and the outbox-lag source rejects; the counters, the other gauges and
 * the help lines of the failed series stay in the text.
 */
import { afterAll, expect, it } from 'vitest';
import { createTelemetry, METRICS } from '../src/telemetry/index.js';

const telemetry = createTelemetry({});
afterAll(() => telemetry.shutdown());

/** The Prometheus name of an OpenTelemetry metric (dots become underscores). */
const prom = (name: string) => name.replace(/\./g, '_');
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${prom(name)}{`) || l.startsWith(`${prom(name)} `));

it('a failing observable callback omits its series; the rest is served', async () => {
  telemetry.setRulesSource(() => {
    throw new Error('rules store unreachable');
  });
  telemetry.setOutboxLagSource(() => Promise.reject(new Error('database unreachable')));
  telemetry.recordSweep('ok', 2);

  const text = await telemetry.metricsText();
  for (const failed of [METRICS.rulesVersion, METRICS.rulesAge, METRICS.rulesFresh, METRICS.outboxLag]) expect(samples(text, failed), failed).toEqual([]);
  expect(samples(text, `${METRICS.expired}_total`)).toEqual([expect.stringMatching(/ 2$/)]);
  expect(samples(text, `${METRICS.sweeps}_total`)).toContainEqual(expect.stringMatching(/result="ok".* 1$/));

  // once the sources answer again, their series come back
  telemetry.setRulesSource(() => ({ version: 7, source: 'postgres', ageSeconds: 1, state: 'fresh', loaded: true }));
  telemetry.setOutboxLagSource(() => 0);
  const again = await telemetry.metricsText();
  expect(samples(again, METRICS.rulesVersion)).toEqual([expect.stringMatching(/ 7$/)]);
  expect(samples(again, METRICS.outboxLag)).toHaveLength(1);
});
