/**
 * GET /docs: the interactive API reference over /openapi.json, served entirely by this service.
 * The UI is Scalar's self-contained browser bundle (`@scalar/api-reference`, pinned to an exact
 * version in package.json; its styles are inside the script), served from node_modules at
 * DOCS_SCRIPT_PATH. The page asks no other host for anything: no CDN, Scalar's default fonts
 * (fonts.scalar.com) off — the system font stack is used — and telemetry and the AI agent off, so
 * the page works offline and behind a firewall.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

/** the one script the page loads (same origin) */
export const DOCS_SCRIPT_PATH = '/docs/api-reference.js';

// the package exports neither its browser bundle nor package.json: find them next to its entry
const packageDist = path.dirname(fileURLToPath(import.meta.resolve('@scalar/api-reference')));
const BUNDLE_FILE = path.join(packageDist, 'browser', 'standalone.js');
export const SCALAR_VERSION: string = (JSON.parse(readFileSync(path.join(packageDist, '..', 'package.json'), 'utf8')) as { version: string }).version;

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

/**
 * The bundle, read and gzipped once (lazily: a process that never serves /docs never reads it).
 * Its trailing sourceMappingURL comment is cut: the 20 MB map is not served, and the page must
 * reference nothing the service does not serve.
 */
export function docsScript(): Promise<DocsScript> {
  script ??= (async () => {
    const text = readFileSync(BUNDLE_FILE, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    const body = new Uint8Array(Buffer.from(text, 'utf8'));
    const gzipped = new Uint8Array(await promisify(gzip)(body));
    return { body, gzipped, etag: `"scalar-api-reference-${SCALAR_VERSION}"` };
  })();
  script.catch(() => (script = undefined)); // a failed read is retried by the next request
  return script;
}
