/**
 * /docs works offline: every asset the page references (scripts, stylesheets, images, the
 * OpenAPI document its configuration names) is same-origin and served 200 by the service with the
 * right content type, and the page names no other host at all. The UI script is the standalone
 * bundle of @scalar/api-reference at the exact version pinned in package.json.
 * (Before: the page loaded https://cdn.jsdelivr.net/npm/@scalar/api-reference, unpinned, and Scalar
 * fetched its fonts from fonts.scalar.com.) The browser-level check is `npm run test:browser`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { serviceFixture } from './helpers/service.js';

const t = serviceFixture();
const ORIGIN = 'http://127.0.0.1:8080';
const ROOT = path.resolve(import.meta.dirname, '..');

/** every URL the HTML references: attributes, CSS url(), and the `url` of Scalar's configuration */
function references(html: string): string[] {
  const refs = new Set<string>();
  for (const m of html.matchAll(/\s(?:src|href|srcset|poster|data|action|content)\s*=\s*["']([^"']+)["']/gi)) {
    // <meta content="width=device-width, …"> is not a URL
    if (!/^[\w-]+=/.test(m[1]!)) refs.add(m[1]!);
  }
  for (const m of html.matchAll(/url\(\s*["']?([^"')]+)["']?\s*\)/gi)) refs.add(m[1]!);
  for (const m of html.matchAll(/createApiReference\(\s*'[^']*'\s*,\s*(\{[\s\S]*?\})\s*\)\s*;?\s*<\/script>/g)) {
    const config = JSON.parse(m[1]!) as Record<string, unknown>;
    for (const v of Object.values(config)) if (typeof v === 'string' && /^(\/|\.|https?:)/.test(v)) refs.add(v);
  }
  return [...refs];
}

const expectedType = (p: string) => (p.endsWith('.js') ? /^text\/javascript\b/ : p.endsWith('.json') ? /^application\/json\b/ : p.endsWith('.css') ? /^text\/css\b/ : /./);

it('every asset /docs references is same-origin and served 200 with the right content type', async () => {
  const page = await t.svc.app.request(`${ORIGIN}/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html\b/);
  const html = await page.text();

  // no absolute or protocol-relative URL anywhere in the page: nothing can name another host
  expect(html.match(/(?:[a-z][a-z0-9+.-]*:)?\/\/[^\s"'<>)]+/gi) ?? []).toEqual([]);

  const refs = references(html);
  expect(refs.some((r) => r.startsWith('/docs/api-reference.js'))).toBe(true);
  expect(refs).toContain('/openapi.json');
  for (const ref of refs) {
    const url = new URL(ref, `${ORIGIN}/docs`);
    expect(url.origin, ref).toBe(ORIGIN);
    const res = await t.svc.app.request(url.href);
    expect(res.status, ref).toBe(200);
    expect(res.headers.get('content-type'), ref).toMatch(expectedType(url.pathname));
    expect((await res.arrayBuffer()).byteLength, ref).toBeGreaterThan(0);
  }
});

it('Scalar is configured to fetch nothing from its own hosts: no default fonts, no telemetry, no agent, no hosted developer tools', async () => {
  const html = await (await t.svc.app.request('/docs')).text();
  const config = JSON.parse(/createApiReference\(\s*'#app'\s*,\s*(\{[\s\S]*?\})\s*\)/.exec(html)![1]!) as Record<string, unknown>;
  expect(config).toMatchObject({ url: '/openapi.json', withDefaultFonts: false, telemetry: false, agent: { disabled: true }, showDeveloperTools: 'never' });
  expect(config).not.toHaveProperty('proxyUrl');
  expect(config).not.toHaveProperty('cdn');
});

it('the script is the standalone bundle of @scalar/api-reference at the exact version pinned in package.json', async () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  // a devDependency: `npm run build` copies its bundle to dist/assets for production installs
  const pinned = pkg.devDependencies['@scalar/api-reference'];
  expect(pkg.dependencies).not.toHaveProperty('@scalar/api-reference');
  expect(pinned).toMatch(/^\d+\.\d+\.\d+$/); // exact: no range, no tag
  const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  expect(lock.packages['node_modules/@scalar/api-reference']!.version).toBe(pinned);

  const html = await (await t.svc.app.request('/docs')).text();
  expect(html).toContain(`/docs/api-reference.js?v=${pinned}`);

  const res = await t.svc.app.request('/docs/api-reference.js');
  expect(res.status).toBe(200);
  const served = await res.text();
  const shipped = readFileSync(path.join(ROOT, 'node_modules/@scalar/api-reference/dist/browser/standalone.js'), 'utf8');
  expect(served.length).toBeGreaterThan(1_000_000);
  expect(served).toContain('createApiReference');
  // the package's bundle, less its sourceMappingURL comment (the map is not served)
  expect(served).not.toMatch(/sourceMappingURL/);
  expect(shipped.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n')).toBe(served);

  // gzip when accepted (same bytes), and a conditional request gets 304
  const gz = await t.svc.app.request('/docs/api-reference.js', { headers: { 'accept-encoding': 'gzip, deflate' } });
  expect(gz.status).toBe(200);
  expect(gz.headers.get('content-encoding')).toBe('gzip');
  expect(gz.headers.get('content-type')).toMatch(/^text\/javascript\b/);
  expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString('utf8')).toBe(served);
  const etag = res.headers.get('etag')!;
  expect(etag).toContain(pinned!);
  const again = await t.svc.app.request('/docs/api-reference.js', { headers: { 'if-none-match': etag } });
  expect(again.status).toBe(304);
});

it('/docs and its script need no key even when keys are configured', async () => {
  const { createService } = await import('../src/service.js');
  const { loadConfig } = await import('../src/config.js');
  const svc = await createService(
    loadConfig({ DATABASE_URL: t.db.url, LOG_LEVEL: 'silent', ATP_API_KEYS: 'docs-admin-key-0123456789=admin' }),
    { sweeper: false },
  );
  try {
    for (const p of ['/docs', '/docs/api-reference.js', '/openapi.json']) expect((await svc.app.request(p)).status, p).toBe(200);
    expect((await svc.app.request('/v1/locations')).status).toBe(401);
  } finally {
    await svc.stop();
  }
});
