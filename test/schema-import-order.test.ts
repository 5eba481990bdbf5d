/**
 * The rules schema (plain zod) is evaluated before @hono/zod-openapi extends zod when a module
 * imports it first; the HTTP schemas must load anyway. This file's import order is the point:
 * with rules/schema.ts and events/types.ts on plain zod it crashed ("ChannelName.openapi is not a
 * function", "RulesDocument.openapi is not a function") — as test/supply.property.test.ts did
 * once its imports were reordered.
 */
import { ChannelName } from '../src/rules/schema.js';
import { parseEventData } from '../src/events/types.js';
import { Channel } from '../src/http/schemas.js';
import { expect, it } from 'vitest';
import type { ZodType } from 'zod'; // a type only: erased, so the import order above stands

it('the HTTP schemas load after the rules schema and validate channel names alike', () => {
  // the event schemas built at load validate: a payload missing its fields is refused by name
  expect(() => parseEventData('supply.cancelled', { actor: 'a' })).toThrow(/supply/);
  expect(() => parseEventData('no.such.type', {})).toThrow('unknown event type no.such.type');
  for (const name of ['web', 'b2b.eu:1', 'x'.repeat(64)]) {
    expect(Channel.safeParse(name).success).toBe(true);
    expect(ChannelName.safeParse(name).success).toBe(true);
  }
  for (const name of ['', 'bad name', '-web', 'x'.repeat(65)]) {
    expect(Channel.safeParse(name).success).toBe(false);
    expect(ChannelName.safeParse(name).success).toBe(false);
  }
});

it('the routes that decorate rules and event schemas load after them too', async () => {
  // rules/schema.ts and events/types.ts were evaluated above, before @hono/zod-openapi
  const { CloudEvent } = await import('../src/events/types.js');
  const { RulesDocument } = await import('../src/rules/schema.js');
  await expect(import('../src/app.js')).resolves.toHaveProperty('createApp');
  // decorated after that, they register as components of an OpenAPI document with their members
  const { OpenAPIHono, createRoute } = await import('@hono/zod-openapi');
  const app = new OpenAPIHono();
  const ok = (schema: ZodType) => ({ 200: { description: 'ok', content: { 'application/json': { schema } } } });
  app.openapi(createRoute({ method: 'get', path: '/rules', responses: ok(RulesDocument.openapi('RulesDoc')) }), (c) => c.json({} as never));
  app.openapi(createRoute({ method: 'get', path: '/event', responses: ok(CloudEvent.openapi('Event')) }), (c) => c.json({} as never));
  const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
  const schemas = doc.components!.schemas as Record<string, { properties: Record<string, unknown> }>;
  expect(Object.keys(schemas.RulesDoc!.properties).sort()).toEqual(['channels', 'defaultTier', 'protect', 'skus', 'updatedAt', 'version']);
  expect(Object.keys(schemas.Event!.properties)).toEqual(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'atpseq', 'data']);
  expect(doc.paths!['/rules']!.get!.responses!['200']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/RulesDoc' } } } });
});
