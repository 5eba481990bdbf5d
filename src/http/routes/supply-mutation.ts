/**
 * What the supply routes that change something share: admin scope, the Idempotency-Key (one
 * transaction, a replay answered as stored with `Idempotent-Replayed: true`), and the answer of a
 * supply change (PATCH, cancel, receipts).
 */
import type { Context } from 'hono';
import type { Tx } from '../../db/client.js';
import { fingerprint, runIdempotent } from '../../services/idempotency.js';
import { requireScope } from '../auth.js';
import type { AppDeps, AppEnv } from '../context.js';
import { setResponseHeader } from '../headers.js';
import { jsonResponse, problemResponses } from '../schemas.js';
import { SupplyChange } from '../supply-schemas.js';

const REPLAY_HEADER = 'Idempotent-Replayed';

export const supplyChangeResponses = { 200: jsonResponse(SupplyChange, 'the supply after the change and every reservation it affected'), ...problemResponses(400, 401, 403, 404, 409, 422, 503) };

/** admin, idempotent, one transaction; answers `status` (201 create, 200 the changes), a replay alike */
export function supplyMutation(deps: AppDeps) {
  const { db } = deps.database;
  return async <T, S extends 200 | 201>(c: Context<AppEnv>, method: string, body: unknown, status: S, run: (tx: Tx, actor: string, at: Date) => Promise<T>) => {
    const p = c.get('principal');
    requireScope(p, 'admin');
    const key = { caller: p.id, key: c.req.header('idempotency-key')!, fingerprint: fingerprint(method, c.req.path, body) };
    const r = await runIdempotent(db, key, status, (tx, at) => run(tx, p.id, at), deps.config.ATP_TX_RETRIES, deps.clock);
    if (r.replayed) setResponseHeader(c, REPLAY_HEADER, 'true');
    return c.json(r.value, status);
  };
}
