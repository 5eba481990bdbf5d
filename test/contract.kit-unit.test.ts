/**
 * Documented = served, for the reservation line members that once drifted (issue 18): a kit
 * line's `kit` and a pack-unit line's `unit` were in every answer and event but in neither
 * /openapi.json nor docs/events.schema.json. A kit reservation and a unit reservation go through
 * the contract-checking client (their 201, GET and release answers are checked against
 * /openapi.json with documented objects closed), and their reservation.created events, read from
 * GET /v1/events, are checked against the published docs/events.schema.json: the event's
 * `dataschema` def of its type, objects closed as the generated schema says.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { expect, it } from 'vitest';
import { EVENTS_SCHEMA_ID, isEventType, schemaDefOf } from '../src/contract/events.js';
import { settled } from './helpers/outbox.js';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();

/** The published event schema, compiled: one validator per event type's `$defs` entry. */
function eventValidators(): (type: string) => ValidateFunction {
  const doc = JSON.parse(readFileSync('docs/events.schema.json', 'utf8')) as { $defs: Record<string, Record<string, unknown>> };
  // each $defs entry carries a fragment-only $id (#/$defs/<name>); its $refs point the same way,
  // so the entries are compiled as the one document they are part of
  const strip = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(strip) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== '$id').map(([k, x]) => [k, strip(x)])) : v;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...(strip(doc) as object), $id: EVENTS_SCHEMA_ID });
  return (type) => {
    if (!isEventType(type)) throw new Error(`unknown event type ${type}`);
    const v = ajv.getSchema(`${EVENTS_SCHEMA_ID}#/$defs/${schemaDefOf(type)}`);
    if (!v) throw new Error(`docs/events.schema.json has no $defs entry for ${type}`);
    return v;
  };
}

it('a kit reservation and a unit reservation answer and publish only documented members', async () => {
  expect((await t.api.setStock('KU-A', 'DC1', 20)).status).toBe(200);
  expect((await t.api.setStock('KU-B', 'DC1', 20)).status).toBe(200);
  expect((await t.api.call('PUT', '/v1/kits/KU-KIT', { components: [{ sku: 'KU-A', qty: 1 }, { sku: 'KU-B', qty: 2 }] })).status).toBe(200);
  expect((await t.api.call('PUT', '/v1/units/KU-A', { units: [{ unit: 'case', factor: 4 }] })).status).toBe(200);

  // every answer below is checked against /openapi.json by the client (a member it does not name fails)
  const kit = await t.api.reserve({ orderRef: 'ku-kit', channel: 'web', lines: [{ sku: 'KU-KIT', qty: 2 }] });
  expect(kit.status).toBe(201);
  expect(kit.body.lines).toEqual([
    expect.objectContaining({ sku: 'KU-A', qty: 2, kit: { sku: 'KU-KIT', perKit: 1 } }),
    expect.objectContaining({ sku: 'KU-B', qty: 4, kit: { sku: 'KU-KIT', perKit: 2 } }),
  ]);
  const unit = await t.api.reserve({ orderRef: 'ku-unit', channel: 'web', lines: [{ sku: 'KU-A', qty: 2, unit: 'case' }] });
  expect(unit.status).toBe(201);
  expect(unit.body.lines).toEqual([expect.objectContaining({ sku: 'KU-A', qty: 8, unit: { name: 'case', factor: 4 } })]);
  expect((await t.api.get(kit.body.id)).body.lines[0].kit).toEqual({ sku: 'KU-KIT', perKit: 1 });
  expect((await t.api.get(unit.body.id)).body.lines[0].unit).toEqual({ name: 'case', factor: 4 });
  expect((await t.api.release(kit.body.id)).status).toBe(200);

  // the events of both, as a consumer reads them, against the published event schema
  await settled(t.sql);
  const feed = await t.api.call('GET', '/v1/events?limit=1000');
  expect(feed.status).toBe(200);
  const ours = (feed.body.events as { type: string; subject: string; data: unknown }[]).filter((e) => e.subject === kit.body.id || e.subject === unit.body.id);
  expect(ours.map((e) => `${e.type} ${e.subject === kit.body.id ? 'kit' : 'unit'}`).sort()).toEqual(['reservation.created kit', 'reservation.created unit', 'reservation.released kit']);
  const validatorOf = eventValidators();
  for (const e of ours) {
    const validate = validatorOf(e.type);
    expect(validate(e.data) ? [] : validate.errors, `${e.type} of ${e.subject} against docs/events.schema.json`).toEqual([]);
  }
  // not vacuous: the events carry the members checked
  const created = ours.filter((e) => e.type === 'reservation.created') as { data: { reservation: { lines: Record<string, unknown>[] } } }[];
  expect(created.flatMap((e) => e.data.reservation.lines.map((l) => Object.keys(l).filter((k) => k === 'kit' || k === 'unit'))).flat().sort()).toEqual(['kit', 'kit', 'unit']);
});
