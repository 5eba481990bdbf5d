/**
 * What the service's HTTP front costs (issue 14, "a lean front"), without the database in the way:
 * GET /healthz through every layer of the service (request id, telemetry, request log, deadline,
 * body limit, auth skip, the route) against the same route of the trivial server, same load
 * generator, same run. Reports requests/s and the process's CPU µs per request (from /proc), so
 * "front" = service − trivial per request.
 *
 *   npx tsx bench/front.ts [--runs 3] [--duration 5000] [--connections 64]
 *
 * The service runs on a scratch database (Postgres from BENCH_ADMIN_URL, as the other benches);
 * /healthz itself reads nothing from it.
 */
import { parseArgs } from 'node:util';
import { cpuSecondsOf } from './lib/cpu.js';
import { createScratchDatabase } from './lib/db.js';
import { closedLoop, median } from './lib/load.js';
import { type Child, startService, startTrivial } from './lib/proc.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, duration: { type: 'string' }, connections: { type: 'string' } } });
const runs = Number(values.runs ?? 3);
const durationMs = Number(values.duration ?? 5000);
const connections = Number(values.connections ?? 64);

async function measure(child: Child, label: string): Promise<{ rps: number; us: number }> {
  const req = { path: '/healthz', method: 'GET' as const };
  await closedLoop({ label: `${label}-warm`, url: child.url, connections, durationMs: 1000, next: () => req, quiet: true });
  const c0 = cpuSecondsOf(child.pid)!;
  const s = await closedLoop({ label, url: child.url, connections, durationMs, next: () => req, quiet: true });
  const c1 = cpuSecondsOf(child.pid)!;
  return { rps: s.rps, us: Math.round(((c1 - c0) * 1e6) / s.requests) };
}

const db = await createScratchDatabase('atp_front');
const service = await startService({ databaseUrl: db.url, extra: { LOG_LEVEL: 'warn' } }, 'service');
const trivial = await startTrivial('trivial');
try {
  const rows: { trivial: { rps: number; us: number }; service: { rps: number; us: number } }[] = [];
  for (let i = 0; i < runs; i++) rows.push({ trivial: await measure(trivial, 'trivial'), service: await measure(service, 'service') });
  for (const [i, r] of rows.entries()) console.log(`run ${i + 1}: trivial ${r.trivial.rps}/s ${r.trivial.us} µs/req · service ${r.service.rps}/s ${r.service.us} µs/req · ratio ${(r.service.rps / r.trivial.rps).toFixed(2)}`);
  const m = (f: (r: (typeof rows)[number]) => number) => median(rows.map(f));
  console.log(
    `median: trivial ${m((r) => r.trivial.rps)}/s ${m((r) => r.trivial.us)} µs · service ${m((r) => r.service.rps)}/s ${m((r) => r.service.us)} µs · front ${m((r) => r.service.us - r.trivial.us)} µs/request · ratio ${m((r) => r.service.rps / r.trivial.rps).toFixed(2)}`,
  );
} finally {
  await service.stop();
  await trivial.stop();
  await db.drop();
}
