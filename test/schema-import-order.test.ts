/**
 * The shared shapes (src/contract/, rules and event schemas) are plain zod, evaluated here before
 * @hono/zod-openapi extends zod; the HTTP schemas must load anyway and name them in the OpenAPI
 * document. Schemas made before that extension have no `.openapi()` (this file's import order
 * once crashed with "ChannelName.openapi is not a function"), so the http layer decorates them
 * with zod's own `.meta()`, which @hono/zod-openapi reads in any import order.
 */
import { ChannelName } from '../src/contract/rules.js';
import { Reservation } from '../src/contract/reservation.js';
import { parseEventData } from '../src/contract/events.js';
import { Channel } from '../src/http/schemas.js';
import { expect, it } from 'vitest';
import type { ZodType } from 'zod'; // a type only: erased, so the import order above stands

it('the HTTP schemas load after the contract and validate channel names alike', () => {
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
  // made before the extension: no .openapi(), which is why http/ names them with .meta()
  expect((Reservation as unknown as Record<string, unknown>).openapi).toBeUndefined();
});

it('plain-zod schemas named with .meta() register as components, nested names as $refs', async () => {
  const { CloudEvent } = await import('../src/contract/events.js');
  const { RulesDocument } = await import('../src/contract/rules.js');
  await expect(import('../src/app.js')).resolves.toHaveProperty('createApp');
  const { OpenAPIHono, createRoute } = await import('@hono/zod-openapi');
  const app = new OpenAPIHono();
  const ok = (schema: ZodType) => ({ 200: { description: 'ok', content: { 'application/json': { schema } } } });
  app.openapi(createRoute({ method: 'get', path: '/rules', responses: ok(RulesDocument.meta({ id: 'RulesDoc' })) }), (c) => c.json({}));
  app.openapi(createRoute({ method: 'get', path: '/event', responses: ok(CloudEvent.meta({ id: 'Event' })) }), (c) => c.json({}));
  app.openapi(createRoute({ method: 'get', path: '/reservation', responses: ok(Reservation) }), (c) => c.json({}));
  const doc = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 't', version: '1' } });
  const schemas = doc.components!.schemas as Record<string, { properties: Record<string, { items?: { properties?: Record<string, unknown> } }> }>;
  expect(Object.keys(schemas.RulesDoc!.properties).sort()).toEqual(['channels', 'defaultTier', 'protect', 'skus', 'updatedAt', 'version']);
  expect(Object.keys(schemas.Event!.properties)).toEqual(['specversion', 'id', 'source', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'atpseq', 'data']);
  expect(doc.paths!['/rules']!.get!.responses!['200']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/RulesDoc' } } } });
  // the contract's own names: Reservation, and Allocation nested in it as a $ref
  expect(doc.paths!['/reservation']!.get!.responses!['200']).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/Reservation' } } } });
  expect(schemas.Reservation!.properties.lines!.items!.properties!.allocations).toEqual({ type: 'array', items: { $ref: '#/components/schemas/Allocation' } });
});
