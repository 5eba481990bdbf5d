// Part of `npm run build` (after tsc): copies the API reference UI bundle (@scalar/api-reference,
// a devDependency pinned in package.json) to dist/assets/, where the compiled service serves it
// from, so a production install without devDependencies still serves /docs. The location and
// version come from the compiled src/http/docs-page.ts, so the service and this copy agree.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
// a copy left by an earlier build must not be taken for the package
rmSync(path.join(dist, 'assets'), { recursive: true, force: true });
const { BUILT_ASSETS_DIR, SCALAR_PACKAGE, locateBundle, withoutSourceMap } = await import(path.join(dist, 'http', 'docs-page.js'));
const { file, version } = locateBundle();
mkdirSync(BUILT_ASSETS_DIR, { recursive: true });
writeFileSync(path.join(BUILT_ASSETS_DIR, 'scalar-api-reference.js'), withoutSourceMap(readFileSync(file, 'utf8')));
writeFileSync(path.join(BUILT_ASSETS_DIR, 'scalar-api-reference.json'), `${JSON.stringify({ package: SCALAR_PACKAGE, version })}\n`);
console.log(`${SCALAR_PACKAGE} ${version} → ${path.relative(process.cwd(), BUILT_ASSETS_DIR)}/scalar-api-reference.js`);
