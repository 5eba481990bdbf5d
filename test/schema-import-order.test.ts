/**
 * The rules schema (plain zod) is evaluated before @hono/zod-openapi extends zod when a module
 * imports it first; the HTTP schemas must load anyway. This file's import order is the point:
 * with rules/schema.ts and events/types.ts on plain zod it crashed ("ChannelName.openapi is not a
 * function", "RulesDocument.openapi is not a function") — as test/supply.property.test.ts did
 * once its imports were reordered.
 */
import { ChannelName } from '../src/rules/schema.js';
import { outboxEvent } from '../src/events/types.js';
import { Channel } from '../src/http/schemas.js';
import { expect, it } from 'vitest';

it('the HTTP schemas load after the rules schema and validate channel names alike', () => {
  expect(typeof outboxEvent).toBe('function');
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
  expect(typeof CloudEvent.openapi).toBe('function');
  expect(typeof RulesDocument.openapi).toBe('function');
  await expect(import('../src/app.js')).resolves.toHaveProperty('createApp');
});
