/**
 * docs/EVENTS.md and docs/events.schema.json match the zod schemas of src/contract/events.ts (the
 * generated section is current: run `npm run events:doc` when this fails), and the example event
 * in the doc is a valid CloudEvent whose payload matches its type.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { eventsJsonSchema, spliceEventsDoc } from '../src/events/schema-doc.js';
import { CloudEvent, EVENT_TYPES, EVENTS_SCHEMA_ID, parseEventData, schemaDefOf } from '../src/contract/events.js';

const doc = readFileSync('docs/EVENTS.md', 'utf8');

it('the generated section of docs/EVENTS.md is current', () => {
  expect(spliceEventsDoc(doc)).toBe(doc);
});

it('docs/events.schema.json is current and defines every event type and the envelope', () => {
  const schema = eventsJsonSchema();
  expect(JSON.parse(readFileSync('docs/events.schema.json', 'utf8'))).toEqual(schema);
  const defs = Object.keys(schema.$defs as object);
  for (const t of [...EVENT_TYPES.map(schemaDefOf), 'CloudEvent', 'Reservation', 'Position']) expect(defs).toContain(t);
  for (const t of EVENT_TYPES) expect(doc).toContain(`| \`${t}\` |`);
});

it('the example event in the doc is a valid CloudEvent with a valid payload', () => {
  const envelope = doc.slice(doc.indexOf('## The envelope'));
  const block = /```json\n([\s\S]*?)```/.exec(envelope)![1]!;
  const ev = CloudEvent.parse(JSON.parse(block));
  expect(() => parseEventData(ev.type, ev.data)).not.toThrow();
});

it('the availability.changed example is a valid CloudEvent whose dataschema resolves in docs/events.schema.json', () => {
  const section = doc.slice(doc.indexOf('## Availability feed for channels'));
  const ev = CloudEvent.parse(JSON.parse(/```json\n([\s\S]*?)```/.exec(section)![1]!));
  expect(ev.type).toBe('availability.changed');
  expect(() => parseEventData(ev.type, ev.data)).not.toThrow();
  const [id, pointer] = ev.dataschema!.split('#');
  expect(id).toBe(EVENTS_SCHEMA_ID);
  const schema = JSON.parse(readFileSync('docs/events.schema.json', 'utf8'));
  const target = pointer!.split('/').slice(1).reduce((o: Record<string, unknown>, k) => o?.[k] as Record<string, unknown>, schema);
  expect(target).toMatchObject({ type: 'object', required: expect.arrayContaining(['sku', 'channel', 'available']) });
});
