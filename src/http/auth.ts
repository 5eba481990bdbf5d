/**
 * Bearer-key authentication and scope checks. Keys come from ATP_API_KEYS (`key=scope[+scope],…`)
 * and are kept only as SHA-256 digests; a presented key is hashed and looked up, and the digests
 * are compared with timingSafeEqual, so no comparison leaks how much of a key matched. Keys never
 * appear in logs or errors: the principal is identified by a digest prefix.
 * Scopes: `admin` (everything), `metrics` (GET /metrics only), `oms` (reserve for any channel, release, commit, extend, short
 * picks, read all), `channel:<name>` (ATP and promise for itself, reserve only as itself, read
 * and release only its own reservations — an abandoned cart; commit and extend stay oms).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Forbidden, Unauthorized } from '../domain/errors.js';

export interface Principal {
  /** stable, non-secret id of the key (digest prefix), or 'anonymous' in open mode */
  id: string;
  admin: boolean;
  oms: boolean;
  /** may read GET /metrics (a key for the Prometheus scraper that can do nothing else) */
  metrics: boolean;
  /** channels this key may act as */
  channels: ReadonlySet<string>;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

export class KeyRing {
  private readonly entries: { digest: Buffer; principal: Principal }[] = [];

  constructor(spec: string | undefined) {
    if (!spec) return;
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      const eq = part.lastIndexOf('=');
      if (eq <= 0) throw new Error('ATP_API_KEYS: every entry must be key=scope[+scope]');
      const key = part.slice(0, eq);
      const scopes = part.slice(eq + 1).split('+').map((s) => s.trim());
      if (key.length < 16) throw new Error('ATP_API_KEYS: keys must be at least 16 characters');
      const channels = new Set<string>();
      let admin = false;
      let oms = false;
      let metrics = false;
      for (const s of scopes) {
        if (s === 'admin') admin = true;
        else if (s === 'oms') oms = true;
        else if (s === 'metrics') metrics = true;
        else if (/^channel:[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$/.test(s)) channels.add(s.slice('channel:'.length));
        else throw new Error(`ATP_API_KEYS: unknown scope "${s}" (admin, oms, metrics, channel:<name>)`);
      }
      const d = digest(key);
      this.entries.push({ digest: d, principal: { id: `key:${d.toString('hex').slice(0, 12)}`, admin, oms, metrics, channels } });
    }
  }

  get open(): boolean {
    return this.entries.length === 0;
  }

  /** Every channel some key may act as (the availability feed computes a figure for each). */
  channels(): string[] {
    return [...new Set(this.entries.flatMap((e) => [...e.principal.channels]))].sort();
  }

  /** The principal for an Authorization header value; throws 401 when absent or unknown. */
  authenticate(header: string | undefined): Principal {
    if (this.open) return OPEN_PRINCIPAL;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new Unauthorized();
    const d = digest(m[1]!);
    let found: Principal | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, d)) found = e.principal;
    if (!found) throw new Unauthorized('the key is not valid');
    return found;
  }
}

export const OPEN_PRINCIPAL: Principal = { id: 'anonymous', admin: true, oms: true, metrics: true, channels: new Set() };

export type Action = 'admin' | 'oms' | 'read' | 'metrics';

/**
 * admin-only / oms (or admin) / read: any admin, oms or channel key (channel reads are narrowed
 * by the route) / metrics: a metrics or admin key.
 */
export function requireScope(p: Principal, action: Action): void {
  if (action === 'admin' && !p.admin) throw new Forbidden('this action needs an admin key');
  if (action === 'oms' && !p.oms && !p.admin) throw new Forbidden('this action needs an oms key');
  if (action === 'read' && !p.admin && !p.oms && p.channels.size === 0) throw new Forbidden('this action needs an admin, oms or channel key');
  if (action === 'metrics' && !p.metrics && !p.admin) throw new Forbidden('this action needs a metrics or admin key');
}

/** May this principal act as (reserve for, read ATP of) `channel`? */
export function requireChannel(p: Principal, channel: string): void {
  if (p.admin || p.oms || p.channels.has(channel)) return;
  throw new Forbidden(`this key may not act as channel "${channel}"`);
}

/** Which channels' reservations this principal may see; undefined = all. */
export function visibility(p: Principal): ((channel: string) => boolean) | undefined {
  if (p.admin || p.oms) return undefined;
  return (channel) => p.channels.has(channel);
}
