/** GET / PUT /v1/rules: the channel-priority rules, with optimistic concurrency (If-Match). */
import { createRoute, z } from '@hono/zod-openapi';
import { ValidationFailed } from '../../domain/errors.js';
import { RulesDocument, RulesInput } from '../../contract/rules.js';
import { requireScope } from '../auth.js';
import type { AppDeps, Router } from '../context.js';
import { setResponseHeader } from '../headers.js';
import { jsonBody, jsonResponse, problemResponses } from '../schemas.js';

// plain zod schemas (src/contract/): named for the document with zod's own .meta(), which @hono/zod-openapi reads
const RulesDoc = RulesDocument.meta({ id: 'Rules' });
const RulesIn = RulesInput.meta({ id: 'RulesInput' });

/** `If-Match: "7"` (or 7) → 7; absent → undefined (unconditional). */
function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(header);
  if (!m) throw new ValidationFailed([{ field: 'header.If-Match', reason: 'must be the rules version as an ETag, e.g. "3"' }]);
  return Number(m[1]);
}

export function rulesRoutes(app: Router, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/rules',
      tags: ['rules'],
      summary: 'The channel-priority rules in force (ETag = version)',
      responses: { 200: jsonResponse(RulesDoc, 'the rules'), ...problemResponses(401, 403) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'oms');
      const doc = deps.rules.current();
      setResponseHeader(c, 'ETag', `"${doc.version}"`);
      return c.json(doc, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'put',
      path: '/v1/rules',
      tags: ['rules'],
      summary: 'Replace the rules; send If-Match with the version you read to avoid overwriting a concurrent change',
      description:
        'Postgres stores every version and assigns the number; If-Match is checked in the same statement (412 with `currentVersion` otherwise, also when a concurrent PUT with the same If-Match won). ' +
        'The answer comes once the version is committed and in force on this instance; other instances apply it within ATP_RULES_POLL_MS (with REDIS_URL, at once through the live copy in Redis). ' +
        'With REDIS_URL, 503 `rules-store-unavailable` when Redis does not answer a PING (nothing changed).',
      request: {
        headers: z.object({ 'if-match': z.string().optional().openapi({ param: { name: 'if-match', in: 'header' }, example: '"3"' }) }),
        ...jsonBody(RulesIn),
      },
      responses: { 200: jsonResponse(RulesDoc, 'the new rules, with the version the server gave them'), ...problemResponses(400, 401, 403, 412, 503) },
    }),
    async (c) => {
      requireScope(c.get('principal'), 'admin');
      const doc = await deps.rules.put(c.req.valid('json'), parseIfMatch(c.req.valid('header')['if-match']), c.get('principal').id);
      deps.logger.info({ rulesVersion: doc.version, actor: c.get('principal').id }, 'rules replaced');
      setResponseHeader(c, 'ETag', `"${doc.version}"`);
      return c.json(doc, 200);
    },
  );
}
