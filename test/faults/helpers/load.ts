/**
 * Reservation load from many concurrent clients that behave as a careful OMS does: every
 * operation has its own Idempotency-Key and is retried with the same key and the same body until
 * it gets a final answer (201 / 200 / 409 / 422), whatever happens in between (connection
 * refused or reset, 503, 429, a missed deadline). Some acknowledged reservations are then
 * released or committed (also idempotent), some are replayed on purpose to check that the replay
 * is byte-for-byte the first answer, and some carry a short hold so the expiry sweeper has work.
 */
import { canonicalJson } from '../../../src/services/idempotency.js';
import { call, isProblem, type Outcome } from './http.js';
import { sleep } from './scale.js';

export interface LoadConfig {
  base: () => string;
  clients: number;
  /** unique per test: orderRefs and keys start with it */
  prefix: string;
  skus: readonly string[];
  channels: readonly string[];
  random: () => number;
  /** per HTTP attempt; a missed deadline is counted as a hang */
  deadlineMs: number;
  /** clients start no new operation once this is true */
  stopped: () => boolean;
  /** true while a fault is injected or the service recovers from one */
  underFault: () => boolean;
  /** share of reservations made with a short hold, and its length */
  shortHold?: { share: number; seconds: number };
  /** shares of acknowledged reservations that are then released / committed / replayed */
  release?: number;
  commit?: number;
  replay?: number;
  /** bound on one operation's retries (a service that never comes back fails the test, not hangs it) */
  giveUpMs?: number;
  extraHeaders?: Record<string, string>;
}

export interface Acked {
  key: string;
  body: { id: string; lines: { sku: string; qty: number; allocations: { location: string; qty: number; supplyId?: string }[] }[] };
}

export interface LoadStats {
  operations: number;
  requests: number;
  requestsUnderFault: number;
  byStatus: Record<string, number>;
  /** error answers by `status code` (problem+json `code`) */
  byCode: Record<string, number>;
  connectionErrors: number;
  /** attempts that got no answer within the deadline (hangs): must be 0 */
  deadlines: number;
  /** 5xx other than 503: must be 0 */
  serverErrors: number;
  /** 503/429 without Retry-After: must be 0 */
  missingRetryAfter: number;
  /** error answers that are not problem+json: must be 0 */
  notProblem: number;
  /** 4xx other than the expected 409 refusals: must be 0 */
  unexpected4xx: number;
  /** operations abandoned after giveUpMs: must be 0 */
  gaveUp: number;
  acked: Map<string, Acked>;
  /** 201s that arrived as replays (the first answer was lost to a fault, or a deliberate replay) */
  replays: number;
  replaysCompared: number;
  /** replays whose body differed from the first 201 for the key: must be 0 */
  replayMismatches: number;
  refused409: number;
  released: number;
  committed: number;
  samples: string[];
  /** attempts in flight right now (the fault injector reads it at each fault) */
  inFlight: number;
}

export function newStats(): LoadStats {
  return {
    operations: 0,
    requests: 0,
    requestsUnderFault: 0,
    byStatus: {},
    byCode: {},
    connectionErrors: 0,
    deadlines: 0,
    serverErrors: 0,
    missingRetryAfter: 0,
    notProblem: 0,
    unexpected4xx: 0,
    gaveUp: 0,
    acked: new Map(),
    replays: 0,
    replaysCompared: 0,
    replayMismatches: 0,
    refused409: 0,
    released: 0,
    committed: 0,
    samples: [],
    inFlight: 0,
  };
}

const sample = (s: LoadStats, what: string) => {
  if (s.samples.length < 20) s.samples.push(what.slice(0, 600));
};

/**
 * Send one logical request until it gets a final answer. Returns the final response, or undefined
 * if the operation was abandoned after giveUpMs.
 */
export async function untilAnswered(cfg: LoadConfig, stats: LoadStats, path: string, key: string, body: unknown, finals: readonly number[]) {
  const started = Date.now();
  const text = JSON.stringify(body);
  for (let attempt = 0; ; attempt++) {
    if (Date.now() - started > (cfg.giveUpMs ?? 120_000)) {
      stats.gaveUp++;
      sample(stats, `gave up on ${path} key=${key}`);
      return undefined;
    }
    const fault = cfg.underFault();
    stats.inFlight++;
    const o: Outcome = await call(cfg.base() + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...cfg.extraHeaders },
      body: text,
      deadlineMs: cfg.deadlineMs,
    });
    stats.inFlight--;
    stats.requests++;
    if (fault || cfg.underFault()) stats.requestsUnderFault++;
    if (o.kind === 'connection-error') {
      stats.connectionErrors++;
      await sleep(50 + cfg.random() * 150);
      continue;
    }
    if (o.kind === 'deadline') {
      stats.deadlines++;
      sample(stats, `deadline on ${path} key=${key}`);
      continue;
    }
    stats.byStatus[o.status] = (stats.byStatus[o.status] ?? 0) + 1;
    if (o.status >= 400) {
      const code = `${o.status} ${(o.json as { code?: string } | undefined)?.code ?? ''}`.trim();
      stats.byCode[code] = (stats.byCode[code] ?? 0) + 1;
    }
    if (o.status >= 400 && !isProblem(o)) {
      stats.notProblem++;
      sample(stats, `not problem+json: ${o.status} ${o.text}`);
    }
    if (o.status === 503 || o.status === 429) {
      if (!o.headers.get('retry-after')) {
        stats.missingRetryAfter++;
        sample(stats, `${o.status} without Retry-After: ${o.text}`);
      }
      await sleep(50 + cfg.random() * 200);
      continue;
    }
    if (o.status >= 500) {
      stats.serverErrors++;
      sample(stats, `${o.status} on ${path}: ${o.text}`);
      await sleep(100);
      continue;
    }
    if (!finals.includes(o.status)) {
      stats.unexpected4xx++;
      sample(stats, `unexpected ${o.status} on ${path}: ${o.text}`);
    }
    return o;
  }
}

function reserveBody(cfg: LoadConfig, client: number, n: number) {
  const r = cfg.random;
  const lines = Array.from({ length: 1 + Math.floor(r() * 3) }, () => ({ sku: cfg.skus[Math.floor(r() * cfg.skus.length)]!, qty: 1 + Math.floor(r() * 3) }));
  const hold = cfg.shortHold && r() < cfg.shortHold.share ? { holdSeconds: cfg.shortHold.seconds } : { holdSeconds: 3600 };
  return { orderRef: `${cfg.prefix}-o-${client}-${n}`, channel: cfg.channels[Math.floor(r() * cfg.channels.length)]!, lines, ...hold };
}

/** Compare a 201 with the first one seen for its key. */
function record(stats: LoadStats, key: string, o: Extract<Outcome, { kind: 'response' }>) {
  if (o.headers.get('idempotent-replayed') === 'true') stats.replays++;
  const prev = stats.acked.get(key);
  if (!prev) {
    stats.acked.set(key, { key, body: o.json as Acked['body'] });
    return;
  }
  stats.replaysCompared++;
  if (canonicalJson(prev.body) !== canonicalJson(o.json)) {
    stats.replayMismatches++;
    sample(stats, `replay differs for ${key}: first ${JSON.stringify(prev.body)} then ${o.text}`);
  }
}

export async function runLoad(cfg: LoadConfig, stats = newStats()): Promise<LoadStats> {
  const client = async (c: number) => {
    for (let n = 0; !cfg.stopped(); n++) {
      stats.operations++;
      const key = `${cfg.prefix}-k-${c}-${n}`;
      const body = reserveBody(cfg, c, n);
      const o = await untilAnswered(cfg, stats, '/v1/reservations', key, body, [201, 409]);
      if (!o) continue;
      if (o.status === 409) {
        stats.refused409++;
        continue;
      }
      if (o.status !== 201) continue;
      record(stats, key, o);
      const id = (o.json as { id: string }).id;
      const roll = cfg.random();
      if (roll < (cfg.replay ?? 0)) {
        const again = await untilAnswered(cfg, stats, '/v1/reservations', key, body, [201]);
        if (again?.status === 201) record(stats, key, again);
      }
      const verb = cfg.random();
      if (verb < (cfg.release ?? 0)) {
        const r = await untilAnswered(cfg, stats, `/v1/reservations/${id}/release`, `${key}:release`, {}, [200]);
        if (r?.status === 200) stats.released++;
      } else if (verb < (cfg.release ?? 0) + (cfg.commit ?? 0)) {
        // 409 when a short hold expired first: a final answer, nothing shipped
        const r = await untilAnswered(cfg, stats, `/v1/reservations/${id}/commit`, `${key}:commit`, {}, [200, 409]);
        if (r?.status === 200) stats.committed++;
      }
    }
  };
  await Promise.all(Array.from({ length: cfg.clients }, (_, c) => client(c)));
  return stats;
}

/** The figures of a load run, without the acked map (for the JSON report). */
export function loadFigures(s: LoadStats) {
  const { acked, samples, inFlight: _f, ...rest } = s;
  return { ...rest, acknowledged: acked.size, samples };
}
