/**
 * GET /docs: the interactive API reference over /openapi.json, served entirely by this service.
 * The UI is Scalar's self-contained browser bundle (`@scalar/api-reference`, pinned to an exact
 * version in package.json; its styles are inside the script), served at DOCS_SCRIPT_PATH. The page
 * asks no other host for anything: no CDN, Scalar's default fonts (fonts.scalar.com) off — the
 * system font stack is used — and telemetry, the AI agent and the hosted developer tools off, so
 * the page works offline and behind a firewall.
 *
 * Where the bundle comes from: in development, the package in node_modules (a devDependency);
 * `npm run build` copies it next to the compiled code (dist/assets/, see
 * scripts/copy-docs-assets.mjs), so a production install (`npm ci --omit=dev`) carries one 4.7 MB
 * file instead of the package's ~400 MB of dependencies.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

/** the one script the page loads (same origin) */
export const DOCS_SCRIPT_PATH = '/docs/api-reference.js';

export const SCALAR_PACKAGE = '@scalar/api-reference';
/** where `npm run build` puts the bundle and its version, relative to the compiled dist/ */
export const BUILT_ASSETS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'assets');
const BUILT_BUNDLE = path.join(BUILT_ASSETS_DIR, 'scalar-api-reference.js');
const BUILT_VERSION = path.join(BUILT_ASSETS_DIR, 'scalar-api-reference.json');

/** the package's bundle file and version: the copy `npm run build` made, else node_modules */
export function locateBundle(): { file: string; version: string } {
  if (existsSync(BUILT_BUNDLE) && existsSync(BUILT_VERSION)) {
    return { file: BUILT_BUNDLE, version: (JSON.parse(readFileSync(BUILT_VERSION, 'utf8')) as { version: string }).version };
  }
  let entry: string;
  try {
    entry = fileURLToPath(import.meta.resolve(SCALAR_PACKAGE));
  } catch {
    throw new Error(`${SCALAR_PACKAGE} not found: run npm install (development), or npm run build, which copies its bundle to dist/assets (production)`);
  }
  // the package exports neither its browser bundle nor package.json: find them next to its entry
  const dist = path.dirname(entry);
  const version = (JSON.parse(readFileSync(path.join(dist, '..', 'package.json'), 'utf8')) as { version: string }).version;
  return { file: path.join(dist, 'browser', 'standalone.js'), version };
}

/** the bundle's trailing sourceMappingURL comment is cut: the 20 MB map is not served */
export const withoutSourceMap = (text: string) => text.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');

const BUNDLE = locateBundle();
export const SCALAR_VERSION: string = BUNDLE.version;

/** Scalar's configuration: nothing in it may name another host */
const CONFIGURATION = {
  url: '/openapi.json',
  withDefaultFonts: false,
  telemetry: false,
  agent: { disabled: true },
  showDeveloperTools: 'never',
  defaultOpenAllTags: true,
};

const escapeForScript = (json: string) => json.replace(/</g, '\\u003c');

/** The HTML of GET /docs: one same-origin script, then the call that mounts the reference. */
export function docsPage(): string {
  return `<!doctype html>
<html>
  <head>
    <title>ATP allocation service API</title>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
  </head>
  <body>
    <div id="app"></div>
    <script src="${DOCS_SCRIPT_PATH}?v=${encodeURIComponent(SCALAR_VERSION)}"></script>
    <script>
      Scalar.createApiReference('#app', ${escapeForScript(JSON.stringify(CONFIGURATION))});
    </script>
  </body>
</html>
`;
}

export interface DocsScript {
  body: Uint8Array<ArrayBuffer>;
  gzipped: Uint8Array<ArrayBuffer>;
  etag: string;
}

let script: Promise<DocsScript> | undefined;

/** The bundle, read and gzipped once (lazily: a process that never serves /docs never reads it). */
export function docsScript(): Promise<DocsScript> {
  script ??= (async () => {
    const body = new Uint8Array(Buffer.from(withoutSourceMap(readFileSync(BUNDLE.file, 'utf8')), 'utf8'));
    const gzipped = new Uint8Array(await promisify(gzip)(body));
    return { body, gzipped, etag: `"scalar-api-reference-${SCALAR_VERSION}"` };
  })();
  script.catch(() => (script = undefined)); // a failed read is retried by the next request
  return script;
}
