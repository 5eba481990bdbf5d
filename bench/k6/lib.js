// @ts-check
/**
 * Shared helpers for the k6 scripts in this folder (flash-sale.js, mixed.js).
 *
 * k6 modules only (no npm imports): this file runs inside the k6 JS runtime.
 * Everything here is safe to call in the init context unless noted.
 */
import { check } from 'k6';
import http from 'k6/http';
import exec from 'k6/execution';

// ---------------------------------------------------------------------------
// Env parsing. k6 passes `-e NAME=value` (and, with --include-system-env-vars,
// the process env) through `__ENV`; every value is a string.
// ---------------------------------------------------------------------------

/**
 * @param {string} name
 * @param {string} fallback
 * @returns {string}
 */
export function envStr(name, fallback) {
  const v = __ENV[name];
  return v === undefined || v === '' ? fallback : v;
}

/**
 * A finite number from the env, or `fallback`. Throws on garbage so a typo
 * aborts the run in the init context instead of silently using a default.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function envNum(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`env ${name}=${raw} is not a number`);
  return n;
}

/**
 * A positive integer from the env, or `fallback`.
 * @param {string} name
 * @param {number} fallback
 * @returns {number}
 */
export function envInt(name, fallback) {
  const n = envNum(name, fallback);
  if (!Number.isInteger(n) || n < 0) throw new Error(`env ${name}=${n} is not a non-negative integer`);
  return n;
}

/**
 * Parse a k6-style duration ("500ms", "30s", "1m30s", "2h") into seconds.
 * Used to estimate planned demand; k6 itself parses the real option.
 * @param {string} d
 * @returns {number}
 */
export function durationSeconds(d) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  /** @type {Record<string, number>} */
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  let matched = '';
  let m;
  while ((m = re.exec(d)) !== null) {
    total += Number(m[1]) * unit[m[2]];
    matched += m[0];
  }
  if (matched !== d) throw new Error(`cannot parse duration "${d}"`);
  return total;
}

// ---------------------------------------------------------------------------
// Connection settings shared by both scripts.
// ---------------------------------------------------------------------------

/** Service base URL, without trailing slash. */
export const BASE_URL = envStr('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, '');
/** Key with `admin` scope: loads inventory in setup() and reads ATP in teardown(). */
export const ADMIN_KEY = envStr('ADMIN_KEY', '');
/** Key with `oms` scope: makes and releases reservations. */
export const OMS_KEY = envStr('OMS_KEY', '');

/**
 * Request headers. An empty key means "no Authorization header" (service
 * running without ATP_API_KEYS).
 * @param {string} key
 * @param {string} [idempotencyKey]
 * @returns {Record<string, string>}
 */
export function headers(key, idempotencyKey) {
  /** @type {Record<string, string>} */
  const h = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (key) h.Authorization = `Bearer ${key}`;
  if (idempotencyKey) h['Idempotency-Key'] = idempotencyKey;
  return h;
}

/**
 * Response callback for setup/teardown requests (admin PUTs, ATP reads):
 * any 2xx is fine. Defined once, as the k6 docs recommend.
 */
export const EXPECT_2XX = http.expectedStatuses({ min: 200, max: 299 });

// ---------------------------------------------------------------------------
// Identity: run id, idempotency keys, order refs.
// ---------------------------------------------------------------------------

/**
 * A short id for this test run. Call it in setup() and pass it to VUs via the
 * setup data: init code runs once per VU, so a value computed there would
 * differ between VUs.
 * @returns {string}
 */
export function newRunId() {
  return `${Date.now().toString(36)}${Math.floor(Math.random() * 0x10000).toString(36)}`;
}

/**
 * A key unique per (run, VU, iteration, purpose). `exec.vu.idInTest` is unique
 * across distributed instances too, unlike `__VU`.
 * @param {string} runId
 * @param {string} [purpose] distinguishes several requests in one iteration
 * @returns {string}
 */
export function idemKey(runId, purpose = 'r') {
  return `k6-${runId}-${exec.vu.idInTest}-${__ITER}-${purpose}`;
}

/**
 * @param {string} runId
 * @returns {string}
 */
export function orderRef(runId) {
  return `ORD-${runId}-${exec.vu.idInTest}-${__ITER}`;
}

// ---------------------------------------------------------------------------
// Weighted mixes: "web:0.5,app:0.3,marketplace:0.2" -> weighted random pick.
// Used for the channel mix (both scripts) and the operation mix (mixed.js).
// ---------------------------------------------------------------------------

/** @typedef {{ names: string[], cdf: number[] }} Mix */

/**
 * Parse "name:weight,name:weight"; weights are normalised so they need not
 * sum to 1. A name without weight counts 1. Throws on bad input.
 * @param {string} spec
 * @returns {Mix}
 */
export function parseMix(spec) {
  /** @type {string[]} */
  const names = [];
  /** @type {number[]} */
  const weights = [];
  for (const part of spec.split(',')) {
    const item = part.trim();
    if (!item) continue;
    const [name, w] = item.split(':');
    const weight = w === undefined ? 1 : Number(w);
    if (!name || !Number.isFinite(weight) || weight < 0) {
      throw new Error(`bad mix entry "${item}" in "${spec}"`);
    }
    names.push(name.trim());
    weights.push(weight);
  }
  const sum = weights.reduce((a, b) => a + b, 0);
  if (names.length === 0 || sum <= 0) throw new Error(`empty mix "${spec}"`);
  /** @type {number[]} */
  const cdf = [];
  let acc = 0;
  for (const w of weights) {
    acc += w / sum;
    cdf.push(acc);
  }
  cdf[cdf.length - 1] = 1; // guard against rounding
  return { names, cdf };
}

/**
 * @param {Mix} mix
 * @returns {string}
 */
export function pick(mix) {
  const u = Math.random();
  for (let i = 0; i < mix.cdf.length; i++) {
    if (u < mix.cdf[i]) return mix.names[i];
  }
  return mix.names[mix.names.length - 1];
}

/** Default channel mix: web 50 %, app 30 %, marketplace 20 %. Override with env CHANNELS. */
export const CHANNEL_MIX = parseMix(envStr('CHANNELS', 'web:0.5,app:0.3,marketplace:0.2'));

/** A channel drawn from the CHANNELS mix. */
export function pickChannel() {
  return pick(CHANNEL_MIX);
}

// ---------------------------------------------------------------------------
// Outcomes of POST /v1/reservations.
// ---------------------------------------------------------------------------

/** 201 = reserved; 409 = sold out / held back by channel rules (an expected answer). */
export const RESERVED = 201;
export const SOLD_OUT = 409;

/**
 * 429 (rate limited) or 503 (overloaded): the service shed the request.
 * @param {number} status
 * @returns {boolean}
 */
export function isShed(status) {
  return status === 429 || status === 503;
}

// ---------------------------------------------------------------------------
// ATP response parsing and invariant checks (used by both teardowns).
// GET /v1/atp?sku=... ->
//   { skus: [ { sku, onHand, reserved, available,
//               locations: [ { location, onHand, reserved, qualityHold, safetyStock, available } ] } ] }
// ---------------------------------------------------------------------------

/**
 * @typedef {{ location: string, onHand: number, reserved: number,
 *             qualityHold: number, safetyStock: number, available: number }} AtpLocation
 * @typedef {{ sku: string, onHand: number, reserved: number, available: number,
 *             locations: AtpLocation[] }} AtpSku
 */

/**
 * Parse an ATP response body; returns the entries keyed by SKU, or null if
 * the body is not the documented shape.
 * @param {import('k6/http').Response} res
 * @returns {Map<string, AtpSku> | null}
 */
export function parseAtp(res) {
  if (typeof res.body !== 'string') return null;
  /** @type {unknown} */
  let doc;
  try {
    doc = JSON.parse(res.body);
  } catch (_e) {
    return null;
  }
  if (typeof doc !== 'object' || doc === null || !('skus' in doc) || !Array.isArray(doc.skus)) return null;
  /** @type {Map<string, AtpSku>} */
  const out = new Map();
  for (const e of /** @type {AtpSku[]} */ (doc.skus)) {
    if (e && typeof e.sku === 'string') out.set(e.sku, e);
  }
  return out;
}

/**
 * Build GET /v1/atp URL for several SKUs (repeated `sku=` params).
 * @param {string[]} skus
 * @param {string} [channel]
 * @returns {string}
 */
export function atpUrl(skus, channel) {
  const q = skus.map((s) => `sku=${encodeURIComponent(s)}`);
  if (channel) q.push(`channel=${encodeURIComponent(channel)}`);
  return `${BASE_URL}/v1/atp?${q.join('&')}`;
}

/**
 * The invariants a position must satisfy after any load, as named checks.
 * Each value is true when the invariant holds. Missing numbers count as
 * violations (the response is not what the contract promises).
 *  - no oversell: reserved + qualityHold + safetyStock <= onHand at every location,
 *    so reserved <= onHand and available >= 0;
 *  - available = onHand - reserved - qualityHold - safetyStock (clamped at 0) per location;
 *  - SKU totals equal the sum over locations.
 * @param {AtpSku} e
 * @returns {Record<string, boolean>}
 */
export function positionInvariants(e) {
  const num = (/** @type {unknown} */ x) => typeof x === 'number' && Number.isFinite(x);
  const locs = Array.isArray(e.locations) ? e.locations : [];
  let sumOnHand = 0;
  let sumReserved = 0;
  let sumAvailable = 0;
  let locsOk = true;
  let locsAvailOk = true;
  for (const l of locs) {
    if (![l.onHand, l.reserved, l.qualityHold, l.safetyStock, l.available].every(num)) {
      locsOk = false;
      continue;
    }
    sumOnHand += l.onHand;
    sumReserved += l.reserved;
    sumAvailable += l.available;
    if (l.reserved < 0 || l.reserved + l.qualityHold + l.safetyStock > l.onHand) locsOk = false;
    const expect = Math.max(0, l.onHand - l.reserved - l.qualityHold - l.safetyStock);
    if (l.available !== expect) locsAvailOk = false;
  }
  return {
    'atp: numbers present': num(e.onHand) && num(e.reserved) && num(e.available),
    'atp: reserved <= onHand': num(e.reserved) && num(e.onHand) && e.reserved <= e.onHand,
    'atp: available >= 0': num(e.available) && e.available >= 0,
    'atp: no location oversold': locsOk,
    'atp: location available = onHand - reserved - hold - safety': locsAvailOk,
    'atp: totals = sum of locations':
      locs.length === 0 ||
      (sumOnHand === e.onHand && sumReserved === e.reserved && sumAvailable === e.available),
  };
}

/**
 * Turn a record of named invariant results into k6 checks (so they show in
 * the summary) and add the number of failed ones to `violations`.
 * @param {Record<string, boolean>} results
 * @param {import('k6/metrics').Counter} violations
 * @param {Record<string, string>} [tags]
 * @returns {number} how many invariants failed
 */
export function recordInvariants(results, violations, tags) {
  /** @type {import('k6').Checkers<null>} */
  const sets = {};
  let failed = 0;
  for (const [name, ok] of Object.entries(results)) {
    sets[name] = () => ok;
    if (!ok) failed++;
  }
  check(null, sets, tags);
  if (failed > 0) violations.add(failed, tags);
  return failed;
}

/**
 * Abort the whole test run (exit code 108) with a reason. For setup(): there
 * is no point loading the service if its stock could not be loaded.
 * @param {string} reason
 * @returns {never}
 */
export function abortRun(reason) {
  exec.test.abort(reason);
  throw new Error(reason); // not reached; satisfies the type checker
}

/**
 * Short description of a response for log lines.
 * @param {import('k6/http').Response} res
 * @returns {string}
 */
export function describe(res) {
  const body = typeof res.body === 'string' ? res.body.slice(0, 300) : '';
  return `${res.request.method} ${res.url} -> ${res.status} ${res.error || ''} ${body}`.trim();
}
