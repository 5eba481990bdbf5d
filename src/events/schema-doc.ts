/**
 * Renders the consumer-facing description of the event types from their zod schemas in
 * src/contract/events.ts and the shapes they share with the routes (src/contract/, one definition
 * each, also behind /openapi.json): a table of types and one JSON Schema (draft 2020-12) document with a `$defs` entry
 * per event payload plus the CloudEvents envelope. `npm run events:doc` writes it into
 * docs/EVENTS.md (between the GENERATED markers) and docs/events.schema.json;
 * test/events.docs.test.ts fails when either is stale.
 */
import { z } from 'zod';
import { Position } from '../contract/atp.js';
import { Allocation, Reservation } from '../contract/reservation.js';
import { AffectedReservation, AllocationMove, ShortPickResult, Supply } from '../contract/supply.js';
import { CloudEvent, EVENT_TYPES, EVENT_VERSIONS, EVENTS_SCHEMA_ID, type EventType, EventSchemas, schemaDefOf } from '../contract/events.js';

export const BEGIN = '<!-- BEGIN GENERATED: npm run events:doc -->';
export const END = '<!-- END GENERATED -->';

const SUBJECTS: Record<string, string> = {
  'reservation.': 'reservation id',
  'backorder.': 'reservation id',
  'allocation.': 'reservation id',
  'supply.': 'supply id',
  'inventory.adjusted': '`<sku>@<location>`',
  'sku.sold_out': 'SKU',
  'sku.below_reorder_point': '`<sku>@<location>`',
  'shortpick.recorded': '`<sku>@<location>`',
  'availability.changed': '`<channel>/<sku>`',
};
const subjectOf = (type: string) => SUBJECTS[type] ?? Object.entries(SUBJECTS).find(([k]) => k.endsWith('.') && type.startsWith(k))?.[1] ?? '';

/** Drop zod's "safe integer" bounds: they say nothing to a consumer and bury the real shape. */
function tidy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(tidy);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'minimum' && x === Number.MIN_SAFE_INTEGER) || (k === 'maximum' && x === Number.MAX_SAFE_INTEGER)) continue;
      o[k] = tidy(x);
    }
    return o;
  }
  return v;
}

export function eventsJsonSchema(): Record<string, unknown> {
  const registry = z.registry<{ id: string }>();
  // the shared shapes under the names src/contract/ gives them (the same as in /openapi.json)
  for (const shape of [Reservation, Allocation, Position, Supply, AllocationMove, AffectedReservation, ShortPickResult]) {
    const id = z.globalRegistry.get(shape)?.id;
    if (typeof id !== 'string') throw new Error('a shared shape in src/contract/ has no .meta({ id })');
    registry.add(shape, { id });
  }
  registry.add(CloudEvent, { id: 'CloudEvent' });
  for (const t of EVENT_TYPES) registry.add(EventSchemas[t], { id: schemaDefOf(t) });
  const out = z.toJSONSchema(registry, { uri: (id) => `#/$defs/${id}` }) as { schemas: Record<string, Record<string, unknown>> };
  const defs: Record<string, unknown> = {};
  for (const [id, s] of Object.entries(out.schemas)) {
    const { $schema: _drop, ...rest } = s;
    defs[id] = tidy(rest);
  }
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: EVENTS_SCHEMA_ID,
    title: 'ATP service events',
    description: 'Each event is a CloudEvent (#/$defs/CloudEvent) whose `data` matches #/$defs/<type> (#/$defs/<type>.v<n> for a versioned type: the CloudEvent `dataschema`).',
    $defs: defs,
  };
}

export function renderEventsDoc(): string {
  const version = (t: EventType) => (EVENT_VERSIONS[t] === undefined ? '' : ` Payload version ${EVENT_VERSIONS[t]}: \`dataschema\` ends \`#/$defs/${schemaDefOf(t)}\`.`);
  const rows = EVENT_TYPES.map((t) => `| \`${t}\` | ${subjectOf(t)} | ${(EventSchemas[t].description ?? '').replace(/\|/g, '\\|')}${version(t)} |`);
  return [
    BEGIN,
    '',
    '| type | subject | meaning |',
    '|---|---|---|',
    ...rows,
    '',
    'JSON Schema (draft 2020-12) of the envelope and of each payload, generated from the zod schemas in',
    '`src/contract/events.ts` and the shapes it shares in `src/contract/` (also in `docs/events.schema.json`):',
    '',
    '```json',
    JSON.stringify(eventsJsonSchema(), null, 2),
    '```',
    '',
    END,
  ].join('\n');
}

/** Replace the generated section of the doc (between the markers) with a fresh rendering. */
export function spliceEventsDoc(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < a) throw new Error('docs/EVENTS.md: generated-section markers not found');
  return doc.slice(0, a) + renderEventsDoc() + doc.slice(b + END.length);
}
