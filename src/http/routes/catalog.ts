/** Kits (PUT/GET/DELETE /v1/kits/{sku}) and units of measure (PUT/GET /v1/units/{sku}). */
import { createRoute, z } from '@hono/zod-openapi';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { Kit, KitInput, Units, UnitsInput } from '../../contract/catalog.js';
import { jsonBody, jsonResponse, problemResponses, Sku } from '../schemas.js';

const SkuParam = z.object({ sku: Sku.meta({ param: { name: 'sku', in: 'path' } }) });

export function catalogRoutes(app: Router, deps: AppDeps) {
  const { catalog } = deps;

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/kits/{sku}',
      tags: ['catalog'],
      summary: 'Define a kit: a virtual SKU made of components (sku × qty in base units)',
      request: { params: SkuParam, ...jsonBody(KitInput) },
      responses: { 200: jsonResponse(Kit, 'the kit'), ...problemResponses(400, 401, 403, 409) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      return c.json(await catalog.putKit(c.req.valid('param').sku, c.req.valid('json').components), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/kits/{sku}',
      tags: ['catalog'],
      summary: 'Read a kit definition',
      request: { params: SkuParam },
      responses: { 200: jsonResponse(Kit, 'the kit'), ...problemResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'read');
      return c.json(await catalog.getKit(deps.database.db, c.req.valid('param').sku), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete',
      path: '/v1/kits/{sku}',
      tags: ['catalog'],
      summary: 'Remove a kit definition (existing reservations keep their component lines)',
      request: { params: SkuParam },
      responses: { 204: { description: 'removed' }, ...problemResponses(400, 401, 403, 404) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      await catalog.deleteKit(c.req.valid('param').sku);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/units/{sku}',
      tags: ['catalog'],
      summary: 'Set the pack units of a SKU (e.g. case = 12 base units); the base unit "each" is implicit',
      request: { params: SkuParam, ...jsonBody(UnitsInput) },
      responses: { 200: jsonResponse(Units, 'the units'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      return c.json(await catalog.putUnits(c.req.valid('param').sku, c.req.valid('json').units), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/units/{sku}',
      tags: ['catalog'],
      summary: 'The units of a SKU',
      request: { params: SkuParam },
      responses: { 200: jsonResponse(Units, 'the units'), ...problemResponses(400, 401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'read');
      const sku = c.req.valid('param').sku;
      return c.json({ sku, baseUnit: 'each', units: await deps.reads.unitsOf(sku) }, 200);
    },
  );
}
