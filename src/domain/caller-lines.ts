/**
 * Answers in the caller's terms. The allocation core sees base-unit lines of physical SKUs (a kit
 * line becomes one line per component); refusals and promises are given back per line the caller
 * wrote: a kit line is named as the kit, in kits, with the components that fall short inside it.
 * Pure functions.
 */
import type { LineRequest } from './allocate.js';
import { ChannelLimit, type DomainError, InsufficientStock, type ShortLine } from './errors.js';

/** The caller's line `i` as the core saw it: its expanded lines (one, or one per kit component). */
export interface CallerLine {
  line: number;
  sku: string;
  /** base units of `sku` (for a kit: kits) */
  qty: number;
  location?: string | undefined;
  kit: boolean;
  parts: LineRequest[];
}

/** Group expanded lines by the caller's line they came from (lines without `line` stand alone, by position). */
export function callerLines(expanded: readonly LineRequest[]): CallerLine[] {
  const groups = new Map<number, CallerLine>();
  expanded.forEach((l, k) => {
    const line = l.line ?? k;
    const g = groups.get(line);
    if (g) g.parts.push(l);
    else
      groups.set(line, {
        line,
        sku: l.kit ? l.kit.sku : l.sku,
        qty: l.kit ? l.qty / l.kit.perKit : l.qty,
        ...(l.location ? { location: l.location } : {}),
        kit: !!l.kit,
        parts: [l],
      });
  });
  return [...groups.values()].sort((a, b) => a.line - b.line);
}

const SEVERITY: ShortLine['reason'][] = ['location-not-allowed', 'insufficient-stock', 'channel-cap', 'protected'];

/**
 * Short lines of the core (per expanded line, or per SKU without `line` — the sold-out memory)
 * → one short line per caller line that falls short: a plain line keeps its figures and gains
 * `line`; a kit line is the kit, requested and available in kits (the fewest whole kits its short
 * components allow), with those components listed.
 */
export function shortByCallerLine(short: readonly ShortLine[], expanded: readonly LineRequest[]): ShortLine[] {
  const groups = callerLines(expanded);
  const out: ShortLine[] = [];
  for (const g of groups) {
    const mine = short.filter((s) => (s.line !== undefined ? s.line === g.line : g.parts.some((p) => p.sku === s.sku)));
    if (mine.length === 0) continue;
    if (!g.kit) {
      const s = mine[0]!;
      out.push({ ...s, sku: g.sku, requested: s.line !== undefined ? s.requested : g.qty, line: g.line });
      continue;
    }
    const components = g.parts.flatMap((p) => {
      const s = mine.find((x) => x.sku === p.sku);
      return s ? [{ sku: p.sku, requested: p.qty, available: s.available, reason: s.reason, perKit: p.kit!.perKit }] : [];
    });
    const reason = SEVERITY.find((r) => components.some((c) => c.reason === r)) ?? components[0]!.reason;
    out.push({
      sku: g.sku,
      requested: g.qty,
      available: Math.min(...components.map((c) => Math.floor(c.available / c.perKit))),
      reason,
      ...(g.location ? { location: g.location } : {}),
      line: g.line,
      components: components.map(({ perKit: _perKit, ...c }) => c),
    });
  }
  return out;
}

/** A refusal restated per caller line (other errors unchanged). */
export function inCallerTerms(err: DomainError, expanded: readonly LineRequest[]): DomainError {
  if (err instanceof InsufficientStock) return new InsufficientStock(shortByCallerLine(err.lines, expanded));
  if (err instanceof ChannelLimit) return new ChannelLimit(shortByCallerLine(err.lines, expanded), err.rulesVersion);
  return err;
}
