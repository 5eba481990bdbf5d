/**
 * Assembles the HTTP application: request ids, body limit, authentication, request logs, the
 * routes, the OpenAPI document, the 404/405 answer and the single error mapper. No I/O happens here.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppDeps, AppEnv } from './http/context.js';
import { bodyLimit } from './http/body-limit.js';
import { requestDeadline } from './http/deadline.js';
import { allowedMethods } from './http/method-not-allowed.js';
import { newRouter } from './http/context.js';
import { DOCS_SCRIPT_PATH } from './http/docs-page.js';
import { problemResponse, toDomainError, TransportProblem } from './http/problem.js';
import { setResponseHeader } from './http/headers.js';
import { requestIds } from './http/request-id.js';
import { problemResponses } from './http/schemas.js';
import { atpRoutes } from './http/routes/atp.js';
import { eventRoutes } from './http/routes/events.js';
import { catalogRoutes } from './http/routes/catalog.js';
import { inventoryRoutes } from './http/routes/inventory.js';
import { opsRoutes } from './http/routes/ops.js';
import { reservationRoutes } from './http/routes/reservations.js';
import { rulesRoutes } from './http/routes/rules.js';
import { stockControlRoutes } from './http/routes/stock-control.js';
import { promiseRoutes } from './http/routes/promise.js';
import { reservationChangeRoutes } from './http/routes/reservation-changes.js';
import { shortPickRoutes } from './http/routes/short-picks.js';
import { supplyRoutes } from './http/routes/supply.js';
import { receiptRoutes } from './http/routes/supply-receipts.js';
import { safeError } from './logger.js';

/** no key needed (GET /metrics is not public: it needs a `metrics` or `admin` key) */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/openapi.json', '/docs', DOCS_SCRIPT_PATH]);

export function createApp(deps: AppDeps) {
  const app = newRouter();

  // first: every later layer (and every error it answers with) is inside it
  app.use('*', requestIds());
  app.use('*', deps.telemetry.httpMiddleware());
  app.use('*', async (c, next) => {
    await next();
    // graceful shutdown: tell keep-alive clients to reconnect (to another instance)
    if (deps.lifecycle.draining) setResponseHeader(c, 'Connection', 'close');
  });
  app.use('*', requestLog(deps));
  // every later layer is inside the deadline: a request caught in a failover gets 503 + Retry-After, not a hang
  app.use('*', requestDeadline(deps.config.ATP_REQUEST_DEADLINE_MS));
  app.use(
    '*',
    bodyLimit({
      maxSize: deps.config.ATP_MAX_BODY_BYTES,
      onError: (c) => problemResponse(c, new TransportProblem('payload-too-large', `bodies are limited to ${deps.config.ATP_MAX_BODY_BYTES} bytes`)),
    }),
  );
  app.use('*', availabilityChanges(deps));
  app.use('*', async (c, next) => {
    if (!PUBLIC_PATHS.has(c.req.path)) c.set('principal', deps.keys.authenticate(c.req.header('authorization')));
    await next();
  });

  opsRoutes(app, deps);
  inventoryRoutes(app, deps);
  atpRoutes(app, deps);
  reservationRoutes(app, deps);
  rulesRoutes(app, deps);
  eventRoutes(app, deps);
  stockControlRoutes(app, deps);
  catalogRoutes(app, deps);
  supplyRoutes(app, deps);
  receiptRoutes(app, deps);
  reservationChangeRoutes(app, deps);
  promiseRoutes(app, deps);
  shortPickRoutes(app, deps);

  documentCommonRefusals(app);
  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'ATP allocation service',
      version: '1.0.0',
      description:
        'Concurrency-safe available-to-promise allocation. Every response, errors included, carries X-Request-Id (the caller\'s, echoed, or a generated one). ' +
        'A path listed here called with a method it does not list answers 405 application/problem+json (code method-not-allowed) with an Allow header.',
    },
    security: [{ bearer: [] }],
  });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  const allowed = allowedMethods(app);
  app.notFound((c) => {
    const methods = allowed(c.req.path);
    if (methods.length === 0) return problemResponse(c, new TransportProblem('not-found', `no route for ${c.req.method} ${c.req.path}`));
    const detail = `${c.req.path} does not serve ${c.req.method}; it serves ${methods.join(', ')}`;
    return problemResponse(c, new TransportProblem('method-not-allowed', detail, { allow: methods }), { allow: methods.join(', ') });
  });
  app.onError((err, c) => {
    const mapped = toDomainError(err);
    if (mapped) return problemResponse(c, mapped);
    deps.logger.error({ err: safeError(err), requestId: c.get('requestId'), path: c.req.path }, 'unhandled error');
    return problemResponse(c, new TransportProblem('internal', `see the service log for request ${c.get('requestId')}`));
  });
  return app;
}

/** Operations that touch no database (their answers cannot be a 503 database-unavailable). */
const NO_DATABASE = new Set(['GET /healthz', 'GET /docs', 'GET /openapi.json', 'GET /v1/rules']);

/**
 * The refusals that come from the shared layers rather than from one handler, documented on every
 * operation they can reach: 400 for any validated input (params, query, headers, body — including
 * malformed JSON and a missing Idempotency-Key), 413 (body limit) and 415 (not JSON) where a body
 * is accepted (and on DELETE, whose body the limit also measures), 401 wherever a key is needed,
 * and 503 wherever the database is read or written (unreachable, lock or statement timeout).
 */
function documentCommonRefusals(app: ReturnType<typeof newRouter>) {
  for (const d of app.openAPIRegistry.definitions) {
    if (d.type !== 'route') continue;
    const r = d.route;
    const op = `${r.method.toUpperCase()} ${r.path}`;
    const codes: number[] = [];
    const req = r.request ?? {};
    if (req.params || req.query || req.headers || req.body) codes.push(400);
    if (req.body || r.method === 'delete') codes.push(413);
    if (req.body) codes.push(415);
    if (!PUBLIC_PATHS.has(r.path)) codes.push(401);
    if (!NO_DATABASE.has(op) && r.path !== '/readyz') codes.push(503);
    const missing = codes.filter((c) => !(String(c) in r.responses));
    if (missing.length > 0) r.responses = Object.fromEntries(Object.entries({ ...r.responses, ...problemResponses(...missing) }).sort(([a], [b]) => Number(a) - Number(b)));
  }
}

/**
 * Any change other than creating a reservation (inventory PUT, release, commit, supply, receipts,
 * short picks, rules…) may add availability: the sold-out memory forgets everything. Coarse on
 * purpose — a new route can never be forgotten here. Refusals (4xx) changed nothing and are skipped,
 * so unauthenticated or invalid requests cannot flush the memory.
 */
function availabilityChanges(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const m = c.req.method;
    if (m === 'GET' || m === 'HEAD' || m === 'OPTIONS' || (m === 'POST' && c.req.path === '/v1/reservations')) return next();
    try {
      await next();
    } finally {
      // a refused request (4xx) changed nothing (invariant 6); a 5xx may have committed
      const status = c.res.status;
      if (status < 400 || status >= 500) deps.allocator.invalidate();
    }
  };
}

function requestLog(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const ms = performance.now() - started;
    const status = c.res.status;
    if (status >= 500) deps.logger.warn({ requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status, ms }, 'request failed');
    else if (deps.logger.isLevelEnabled('debug')) deps.logger.debug({ requestId: c.get('requestId'), method: c.req.method, path: c.req.path, status, ms }, 'request');
  };
}
