/** Kits (virtual SKUs made of components): what a kit is made of and how many whole kits its components allow. Pure. */

/** A component of a kit: its SKU and base units per kit. */
export interface Component {
  sku: string;
  qty: number;
}

/**
 * A kit's availability from its components': the fewest whole kits any component allows.
 * `avail` maps component SKU → available base units (0 when absent).
 */
export function kitsAvailable(components: readonly Component[], avail: (sku: string) => number): number {
  if (components.length === 0) return 0;
  return Math.min(...components.map((c) => Math.floor(Math.max(0, avail(c.sku)) / c.qty)));
}
