/**
 * The load generator (undici): a closed loop (C connections, each sending its next request when
 * the previous answer arrives) or an open loop at a fixed offered rate (latency measured from the
 * moment each request was DUE, so a stalled server cannot hide its queueing — no coordinated
 * omission). Progress is printed to stderr once a second. Every loop also keeps a timeline: answers
 * and 2xx answers per second of the run, for the HTML report's throughput-over-time chart.
 */
import { Pool } from 'undici';

export interface Req {
  path: string;
  method: 'GET' | 'POST' | 'PUT';
  headers?: Record<string, string>;
  body?: string;
}

export interface Stats {
  label: string;
  requests: number;
  seconds: number;
  /** all answers per second */
  rps: number;
  /** answers per status code (0: transport error) */
  statuses: Record<string, number>;
  /** 201 answers that were not idempotent replays, per second */
  createdPerSec: number;
  /** 2xx answers that were not idempotent replays, per second (a read's 200, a reservation's 201) */
  okPerSec: number;
  created: number;
  replayed: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** share of 429/503/5xx/transport errors */
  errorRate: number;
  /** per whole or partial second of the run (index = second since the loop started): answers/s and 2xx answers/s */
  timeline?: { answers: number[]; ok: number[] };
}

export interface Recorder {
  latencies: number[];
  statuses: Map<number, number>;
  created: number;
  replayed: number;
  /** 2xx answers that were not replays */
  ok: number;
  lastCreatedAt: number;
  /** performance.now() when the loop started: the timeline's zero */
  t0: number;
  /** answers and 2xx answers completed in each second since t0 */
  answersBySecond: number[];
  okBySecond: number[];
}

export type OnAnswer = (i: number, status: number, body: string, replayed: boolean) => void;

export const newRecorder = (t0 = performance.now()): Recorder => ({ latencies: [], statuses: new Map(), created: 0, replayed: 0, ok: 0, lastCreatedAt: 0, t0, answersBySecond: [], okBySecond: [] });

/** Count one answer: its latency (from `due`), status, and the second of the run it completed in. */
export function record(rec: Recorder, status: number, due: number, now: number, replayed = false): void {
  rec.latencies.push(now - due);
  rec.statuses.set(status, (rec.statuses.get(status) ?? 0) + 1);
  const sec = Math.max(0, Math.floor((now - rec.t0) / 1000));
  while (rec.answersBySecond.length <= sec) {
    rec.answersBySecond.push(0);
    rec.okBySecond.push(0);
  }
  rec.answersBySecond[sec]!++;
  if (status >= 200 && status < 300 && !replayed) {
    rec.ok++;
    rec.okBySecond[sec]!++;
  }
  if (status === 201) {
    if (replayed) rec.replayed++;
    else {
      rec.created++;
      rec.lastCreatedAt = now;
    }
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The stats of a finished loop that ran `seconds` (the timeline's last, partial second is scaled to a rate). */
export function summarise(label: string, rec: Recorder, seconds: number): Stats {
  const sorted = Float64Array.from(rec.latencies).sort();
  const arr = Array.from(sorted);
  const statuses = Object.fromEntries([...rec.statuses].sort(([a], [b]) => a - b).map(([k, v]) => [String(k), v]));
  const bad = [...rec.statuses].filter(([s]) => s === 0 || s === 429 || s >= 500).reduce((n, [, v]) => n + v, 0);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  // the last bucket may cover only part of a second: scale it to a per-second rate
  const lastLen = seconds - (rec.answersBySecond.length - 1);
  const rate = (xs: number[]) => xs.map((x, i) => (i === xs.length - 1 && lastLen > 0.05 && lastLen < 1 ? Math.round(x / lastLen) : x));
  return {
    label,
    requests: rec.latencies.length,
    seconds: r2(seconds),
    rps: Math.round(rec.latencies.length / seconds),
    statuses,
    createdPerSec: Math.round(rec.created / seconds),
    okPerSec: Math.round(rec.ok / seconds),
    created: rec.created,
    replayed: rec.replayed,
    p50: r2(pct(arr, 50)),
    p95: r2(pct(arr, 95)),
    p99: r2(pct(arr, 99)),
    max: r2(arr.at(-1) ?? 0),
    errorRate: rec.latencies.length ? r2(bad / rec.latencies.length) : 0,
    timeline: { answers: rate(rec.answersBySecond), ok: rate(rec.okBySecond) },
  };
}

export function progress(label: string, rec: Recorder, t0: number, quiet: boolean) {
  let last = 0;
  const timer = setInterval(() => {
    if (quiet) return;
    const n = rec.latencies.length;
    const el = (performance.now() - t0) / 1000;
    const st = [...rec.statuses].map(([k, v]) => `${k}:${v}`).join(' ');
    process.stderr.write(`  [${label}] ${el.toFixed(1)}s ${n} answers, ${n - last}/s  ${st}\n`);
    last = n;
  }, 1000);
  return () => clearInterval(timer);
}

async function send(pool: Pool, req: Req, rec: Recorder, due: number, i: number, onAnswer?: OnAnswer) {
  let status = 0;
  let text = '';
  let replayed = false;
  try {
    const r = await pool.request({ path: req.path, method: req.method, headers: req.headers, body: req.body });
    status = r.statusCode;
    replayed = r.headers['idempotent-replayed'] === 'true';
    if (onAnswer) text = await r.body.text();
    else await r.body.dump();
  } catch {
    status = 0;
  }
  record(rec, status, due, performance.now(), replayed);
  onAnswer?.(i, status, text, replayed);
}

export interface ClosedLoop {
  label: string;
  url: string;
  connections: number;
  /** stop after this long … */
  durationMs?: number;
  /** … or after this many requests in total */
  total?: number;
  next: (i: number) => Req;
  onAnswer?: OnAnswer;
  quiet?: boolean;
}

/** C workers on C keep-alive connections, each one request at a time. */
export async function closedLoop(o: ClosedLoop): Promise<Stats> {
  const pool = new Pool(o.url, { connections: o.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const t0 = performance.now();
  const rec = newRecorder(t0);
  const end = o.durationMs ? t0 + o.durationMs : Infinity;
  const total = o.total ?? Infinity;
  let issued = 0;
  const stopProgress = progress(o.label, rec, t0, !!o.quiet);
  const worker = async () => {
    while (issued < total && performance.now() < end) {
      const i = issued++;
      await send(pool, o.next(i), rec, performance.now(), i, o.onAnswer);
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const seconds = (performance.now() - t0) / 1000;
  stopProgress();
  await pool.close();
  return summarise(o.label, rec, seconds);
}

export interface OpenLoop {
  label: string;
  url: string;
  connections: number;
  rate: number;
  durationMs: number;
  next: (i: number) => Req;
  quiet?: boolean;
}

/** A fixed offered rate; latency counts from each request's due time. */
export async function openLoop(o: OpenLoop): Promise<Stats> {
  const pool = new Pool(o.url, { connections: o.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const t0 = performance.now();
  const rec = newRecorder(t0);
  const stopProgress = progress(o.label, rec, t0, !!o.quiet);
  const totalReqs = Math.round((o.rate * o.durationMs) / 1000);
  const inflight: Promise<void>[] = [];
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const dueCount = Math.min(totalReqs, Math.floor(((now - t0) * o.rate) / 1000) + 1);
      while (i < dueCount) {
        const due = t0 + (i * 1000) / o.rate;
        const p = send(pool, o.next(i), rec, due, i);
        inflight.push(p);
        i++;
      }
      if (i >= totalReqs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  await Promise.all(inflight);
  const seconds = (performance.now() - t0) / 1000;
  stopProgress();
  await pool.close();
  return summarise(o.label, rec, seconds);
}

/** Same shape of stats for a loop that is not HTTP (the direct-Postgres baseline). */
export async function closedLoopFn(o: { label: string; workers: number; durationMs: number; quiet?: boolean; fn: (i: number) => Promise<number> }): Promise<Stats> {
  const t0 = performance.now();
  const rec = newRecorder(t0);
  const end = t0 + o.durationMs;
  let issued = 0;
  const stopProgress = progress(o.label, rec, t0, !!o.quiet);
  const worker = async () => {
    while (performance.now() < end) {
      const i = issued++;
      const s = performance.now();
      let status = 0;
      try {
        status = await o.fn(i);
      } catch {
        status = 0;
      }
      record(rec, status, s, performance.now());
    }
  };
  await Promise.all(Array.from({ length: o.workers }, worker));
  const seconds = (performance.now() - t0) / 1000;
  stopProgress();
  return summarise(o.label, rec, seconds);
}

export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return 0;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
