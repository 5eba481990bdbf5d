/**
 * Regenerate the event schemas in docs/EVENTS.md and docs/events.schema.json from the zod
 * schemas (src/contract/events.ts). `--check` only verifies they are current (exit 1 if stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { eventsJsonSchema, spliceEventsDoc } from '../src/events/schema-doc.js';

const check = process.argv.includes('--check');
const files: [string, (old: string) => string][] = [
  ['docs/EVENTS.md', spliceEventsDoc],
  ['docs/events.schema.json', () => `${JSON.stringify(eventsJsonSchema(), null, 2)}\n`],
];
let stale = false;
for (const [file, render] of files) {
  let old = '';
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    if (!file.endsWith('.json')) throw new Error(`${file} is missing`);
  }
  const next = render(old);
  if (next === old) continue;
  stale = true;
  if (check) console.error(`${file} is stale: run npm run events:doc`);
  else {
    writeFileSync(file, next);
    console.log(`wrote ${file}`);
  }
}
if (check && stale) process.exit(1);
