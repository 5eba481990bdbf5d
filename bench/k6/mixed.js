// @ts-check
/**
 * Mixed traffic over a long tail of SKUs: Zipf-distributed popularity, orders
 * of 1–5 lines, and an operation mix of 80 % ATP checks, 15 % reservations,
 * 5 % releases of reservations this VU made earlier.
 *
 *   k6 run -e BASE_URL=http://127.0.0.1:8080 -e ADMIN_KEY=... -e OMS_KEY=... bench/k6/mixed.js
 *
 * See README.md for every env var.
 */
import { check } from 'k6';
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';
import {
  ADMIN_KEY,
  BASE_URL,
  EXPECT_2XX,
  OMS_KEY,
  RESERVED,
  SOLD_OUT,
  abortRun,
  atpUrl,
  describe,
  envInt,
  envNum,
  envStr,
  headers,
  idemKey,
  isShed,
  newRunId,
  orderRef,
  parseAtp,
  parseMix,
  pick,
  pickChannel,
  positionInvariants,
  recordInvariants,
} from './lib.js';

// --- configuration ---
const SKUS = envInt('SKUS', 10000);
const SKU_PREFIX = envStr('SKU_PREFIX', 'MIX');
const ZIPF_S = envNum('ZIPF_S', 1.1);
const STOCK_PER_SKU = envInt('STOCK_PER_SKU', 1000);
const LOCATION = envStr('LOCATION', 'DC1');
const OPS = parseMix(envStr('OPS', 'atp:0.8,reserve:0.15,release:0.05'));
const MAX_LINES = envInt('MAX_LINES', 5);
const MAX_QTY = envInt('MAX_QTY', 1);
const HOLD_SECONDS = envInt('HOLD_SECONDS', 300);
const ATP_KEY = envStr('ATP_KEY', OMS_KEY); // key used for the ATP reads
const RATE = envNum('RATE', 1000); // iterations (requests) per second (the issue-15 target rate)
const RAMP = envStr('RAMP', '10s');
const DURATION = envStr('DURATION', '60s');
const PRE_VUS = envInt('PRE_VUS', 100);
const MAX_VUS = envInt('MAX_VUS', 1000);
// Frozen: the thresholds are the contract of this script, not a knob.
const P99_MS = 25;
const SETUP_CHUNK = envInt('SETUP_CHUNK', 100); // PUTs per http.batch call
const SETUP_PARALLEL = envInt('SETUP_PARALLEL', 20); // concurrent requests inside a batch
const CHECK_TOP = envInt('CHECK_TOP', 50); // teardown: most popular SKUs to verify
const MAX_HELD = 1000; // per-VU memory of reservation ids to release later

if (SKUS < 1 || MAX_LINES < 1 || MAX_QTY < 1 || SETUP_CHUNK < 1) {
  throw new Error('SKUS, MAX_LINES, MAX_QTY and SETUP_CHUNK must be >= 1');
}

// --- custom metrics ---
const reservationsOk = new Counter('reservations_ok');
const reservationsSoldOut = new Counter('reservations_soldout');
const reservationsShed = new Counter('reservations_shed');
const reservationsOther = new Counter('reservations_other');
const releasesOk = new Counter('releases_ok');
const releasesConflict = new Counter('releases_conflict'); // 409: no longer held (e.g. expired)
const releasesSkipped = new Counter('releases_skipped'); // VU had nothing to release -> did an ATP check
const atpLatency = new Trend('atp_latency', true);
const reserveLatency = new Trend('reserve_latency', true);
const releaseLatency = new Trend('release_latency', true);
const invariantViolations = new Counter('invariant_violations');

/** @type {import('k6/options').Options} */
export const options = {
  discardResponseBodies: true, // only reservation (201) bodies are read; those requests opt in
  batch: SETUP_PARALLEL,
  batchPerHost: SETUP_PARALLEL,
  setupTimeout: envStr('SETUP_TIMEOUT', '10m'),
  scenarios: {
    mixed: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: PRE_VUS,
      maxVUs: MAX_VUS,
      stages: [
        { duration: RAMP, target: RATE },
        { duration: DURATION, target: RATE },
      ],
      gracefulStop: '10s',
    },
  },
  thresholds: {
    // Scoped to the scenario so the 10k setup PUTs don't count.
    'http_req_failed{scenario:mixed}': ['rate<0.01'],
    'http_req_duration{scenario:mixed}': [`p(99)<=${P99_MS}`],
    invariant_violations: ['count==0'],
    // an arrival-rate executor that ran out of VUs did not offer the load it claims: that fails
    dropped_iterations: ['count==0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

// Expected answers per operation (defined once, reused per request).
const EXPECT_ATP = http.expectedStatuses(200);
const EXPECT_RESERVE = http.expectedStatuses(RESERVED, SOLD_OUT); // 409 = sold out / held back by rules
const EXPECT_RELEASE = http.expectedStatuses({ min: 200, max: 299 }, SOLD_OUT);
// Fallback for any request without its own callback.
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 299 }, SOLD_OUT));

// --- Zipf popularity: P(rank k) ∝ 1 / (k+1)^s, rank 0 most popular ---
// Precomputed, normalised CDF; sampled by binary search (O(log n)).
const ZIPF_CDF = (() => {
  const cdf = new Float64Array(SKUS);
  let acc = 0;
  for (let k = 0; k < SKUS; k++) {
    acc += 1 / Math.pow(k + 1, ZIPF_S);
    cdf[k] = acc;
  }
  for (let k = 0; k < SKUS; k++) cdf[k] /= acc;
  cdf[SKUS - 1] = 1; // guard against rounding
  return cdf;
})();

/** @returns {number} a rank in [0, SKUS), Zipf-distributed */
function zipfRank() {
  const u = Math.random();
  let lo = 0;
  let hi = SKUS - 1;
  while (lo < hi) {
    // first index whose cdf exceeds u
    const mid = (lo + hi) >>> 1;
    if (ZIPF_CDF[mid] > u) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * @param {number} rank
 * @returns {string}
 */
function skuName(rank) {
  return `${SKU_PREFIX}-${rank}`;
}

/**
 * @param {number} lo
 * @param {number} hi
 * @returns {number} an integer in [lo, hi]
 */
function randInt(lo, hi) {
  return lo + Math.floor(Math.random() * (hi - lo + 1));
}

/**
 * `n` distinct SKUs drawn by popularity (fewer if SKUS < n or the head is very
 * hot and distinct draws run out of attempts).
 * @param {number} n
 * @returns {string[]}
 */
function pickSkus(n) {
  const picked = new Set();
  for (let tries = 0; picked.size < n && tries < n * 10; tries++) picked.add(zipfRank());
  return Array.from(picked, skuName);
}

// --- per-VU state: reservations this VU holds and may release later ---
/** @type {string[]} */
const held = [];

/** @typedef {{ runId: string }} SetupData */

/**
 * Load STOCK_PER_SKU units of every SKU at LOCATION, SETUP_CHUNK PUTs per
 * http.batch call. Aborts the run on the first failed chunk.
 * @returns {SetupData}
 */
export function setup() {
  const runId = newRunId();
  const body = JSON.stringify({ onHand: STOCK_PER_SKU, qualityHold: 0, safetyStock: 0, reason: `k6 mixed ${runId}` });
  const started = Date.now();
  for (let start = 0; start < SKUS; start += SETUP_CHUNK) {
    /** @type {import('k6/http').ObjectBatchRequest[]} */
    const reqs = [];
    for (let i = start; i < Math.min(SKUS, start + SETUP_CHUNK); i++) {
      reqs.push({
        method: 'PUT',
        url: `${BASE_URL}/v1/inventory/${encodeURIComponent(skuName(i))}/${encodeURIComponent(LOCATION)}`,
        body,
        params: {
          headers: headers(ADMIN_KEY, `k6-${runId}-setup-${i}`),
          responseType: 'text',
          responseCallback: EXPECT_2XX,
          tags: { name: 'PUT /v1/inventory/{sku}/{location}' },
        },
      });
    }
    for (const res of http.batch(reqs)) {
      if (res.status < 200 || res.status > 299) abortRun(`loading stock failed: ${describe(res)}`);
    }
  }

  // Read the most popular SKU back: proves the ATP endpoint answers.
  const probe = http.get(atpUrl([skuName(0)]), {
    headers: headers(ADMIN_KEY),
    responseType: 'text',
    responseCallback: EXPECT_2XX,
    tags: { name: 'GET /v1/atp' },
  });
  const parsed = parseAtp(probe);
  if (probe.status !== 200 || !parsed || !parsed.has(skuName(0))) abortRun(`ATP read-back failed: ${describe(probe)}`);

  console.log(
    `mixed run=${runId} loaded ${SKUS} SKUs x ${STOCK_PER_SKU} at ${LOCATION} in ${Date.now() - started} ms; ` +
      `zipf s=${ZIPF_S} rate=${RATE}/s`,
  );
  return { runId };
}

/** 80 %: availability for 1–5 SKUs on one channel. */
function atpCheck() {
  const res = http.get(atpUrl(pickSkus(randInt(1, MAX_LINES)), pickChannel()), {
    headers: headers(ATP_KEY),
    responseCallback: EXPECT_ATP,
    tags: { name: 'GET /v1/atp', op: 'atp' },
  });
  atpLatency.add(res.timings.duration);
  check(res, { 'atp: 200': (r) => r.status === 200 });
}

/**
 * 15 %: reserve an order of 1–5 lines with a hold; remember the id.
 * @param {SetupData} data
 */
function reserve(data) {
  const channel = pickChannel();
  const lines = pickSkus(randInt(1, MAX_LINES)).map((sku) => ({ sku, qty: randInt(1, MAX_QTY) }));
  const body = { orderRef: orderRef(data.runId), channel, lines, holdSeconds: HOLD_SECONDS };
  const res = http.post(`${BASE_URL}/v1/reservations`, JSON.stringify(body), {
    headers: headers(OMS_KEY, idemKey(data.runId, 'reserve')),
    responseType: 'text', // need the id from the 201 body
    responseCallback: EXPECT_RESERVE,
    tags: { name: 'POST /v1/reservations', op: 'reserve', channel },
  });
  reserveLatency.add(res.timings.duration);

  if (res.status === RESERVED) {
    reservationsOk.add(1, { channel });
    const id = reservationId(res);
    check(id, { 'reserve: 201 has id': (v) => v !== null });
    if (id !== null) {
      held.push(id);
      if (held.length > MAX_HELD) held.shift(); // forget the oldest; its hold just expires
    }
  } else if (res.status === SOLD_OUT) {
    reservationsSoldOut.add(1, { channel });
  } else if (isShed(res.status)) {
    reservationsShed.add(1, { channel });
  } else {
    reservationsOther.add(1, { channel, status: String(res.status) });
  }
}

/**
 * @param {import('k6/http').Response} res
 * @returns {string | null}
 */
function reservationId(res) {
  if (typeof res.body !== 'string') return null;
  try {
    const doc = JSON.parse(res.body);
    return doc && typeof doc.id === 'string' && doc.id ? doc.id : null;
  } catch (_e) {
    return null;
  }
}

/**
 * 5 %: release (all of) the newest reservation this VU still holds.
 * @param {SetupData} data
 * @param {string} id
 */
function release(data, id) {
  const res = http.post(`${BASE_URL}/v1/reservations/${encodeURIComponent(id)}/release`, '{}', {
    headers: headers(OMS_KEY, idemKey(data.runId, 'release')),
    responseCallback: EXPECT_RELEASE,
    tags: { name: 'POST /v1/reservations/{id}/release', op: 'release' },
  });
  releaseLatency.add(res.timings.duration);
  if (res.status >= 200 && res.status <= 299) releasesOk.add(1);
  else if (res.status === SOLD_OUT) releasesConflict.add(1);
  check(res, { 'release: 2xx or 409': (r) => (r.status >= 200 && r.status <= 299) || r.status === SOLD_OUT });
}

/**
 * One iteration = one request, chosen from the OPS mix.
 * @param {SetupData} data
 */
export default function (data) {
  const op = pick(OPS);
  if (op === 'reserve') {
    reserve(data);
  } else if (op === 'release') {
    const id = held.pop();
    if (id !== undefined) {
      release(data, id);
    } else {
      releasesSkipped.add(1);
      atpCheck(); // nothing held yet: keep the arrival rate, do a read instead
    }
  } else {
    atpCheck();
  }
}

/**
 * Verify the CHECK_TOP most popular SKUs (the ones under the most
 * contention): never oversold, internally consistent, onHand untouched.
 * @param {SetupData} _data
 */
export function teardown(_data) {
  invariantViolations.add(0); // give the threshold a sample even when all is well

  const top = [];
  for (let i = 0; i < Math.min(CHECK_TOP, SKUS); i++) top.push(skuName(i));
  /** @type {string[][]} */
  const chunks = [];
  for (let i = 0; i < top.length; i += 10) chunks.push(top.slice(i, i + 10));

  const responses = http.batch(
    chunks.map((skus) => ({
      method: 'GET',
      url: atpUrl(skus),
      params: {
        headers: headers(ADMIN_KEY),
        responseType: /** @type {const} */ ('text'),
        responseCallback: EXPECT_2XX,
        tags: { name: 'GET /v1/atp' },
      },
    })),
  );

  let checked = 0;
  let failed = 0;
  chunks.forEach((skus, i) => {
    const parsed = parseAtp(responses[i]);
    for (const sku of skus) {
      const entry = parsed && parsed.get(sku);
      if (!entry) {
        failed += recordInvariants({ 'atp: sku present after run': false }, invariantViolations, { sku });
        continue;
      }
      const loc = (entry.locations || []).find((l) => l.location === LOCATION);
      failed += recordInvariants(
        { ...positionInvariants(entry), 'atp: onHand unchanged at location': !!loc && loc.onHand === STOCK_PER_SKU },
        invariantViolations,
        { sku },
      );
      checked++;
      if (checked <= 5) {
        console.log(`mixed teardown ${sku}: onHand=${entry.onHand} reserved=${entry.reserved} available=${entry.available}`);
      }
    }
  });
  console.log(`mixed teardown: checked ${checked}/${top.length} top SKUs, ${failed} invariant failures`);
}
