/** Seed stock through the API (so the ledger has its cycle-count rows) and remember what was seeded. */
import { call } from './http.js';

export async function seedStock(base: string, skus: readonly string[], locations: readonly string[], onHand: number, headers: Record<string, string> = {}) {
  const seeded = new Map<string, number>();
  for (const sku of skus)
    for (const loc of locations) {
      const o = await call(`${base}/v1/inventory/${sku}/${loc}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ onHand }),
        deadlineMs: 30_000,
      });
      if (o.kind !== 'response' || o.status !== 200) throw new Error(`seeding ${sku}@${loc} failed: ${JSON.stringify(o)}`);
      seeded.set(`${sku}@${loc}`, onHand);
    }
  return seeded;
}
