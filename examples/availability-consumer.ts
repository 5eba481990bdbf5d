/**
 * An example channel consumer of the availability feed (docs/EVENTS.md, "Availability feed for
 * channels"): keeps one channel's listings in sync without polling every SKU.
 *
 *   ATP_URL=http://localhost:8080 ATP_KEY=<channel key> CHANNEL=web SKUS=SKU-1,SKU-2 \
 *     npx tsx examples/availability-consumer.ts [--once]
 *
 * 1. First run (no cursor file): remember where the feed ends now, then take a snapshot of the
 *    listed SKUs from GET /v1/atp — in that order, so no change falls between the two.
 * 2. Then page GET /v1/events?type=availability.changed&after=<cursor>, apply each event of
 *    CHANNEL (the figure itself, not a delta: applying one twice is harmless), and save the cursor
 *    after each page (atomically: write, then rename). A restart resumes from the saved cursor.
 * 3. `--once`: stop when caught up (a cron job, or a test); otherwise poll every POLL_MS.
 *
 * Each listing update is printed as one JSON line: {"sku","available","source","asOf"?}.
 * Only `fetch` and `node:fs`: copy it anywhere.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

const BASE = process.env.ATP_URL ?? 'http://localhost:8080';
const KEY = process.env.ATP_KEY;
const CHANNEL = process.env.CHANNEL ?? '*';
const SKUS = (process.env.SKUS ?? '').split(',').filter(Boolean);
const CURSOR_FILE = process.env.CURSOR_FILE ?? './availability.cursor';
const POLL_MS = Number(process.env.POLL_MS ?? 1000);
const ONCE = process.argv.includes('--once');

interface AvailabilityChanged {
  sku: string;
  channel: string;
  available: number;
  previous: number | null;
  rulesVersion: number;
  asOf: string;
}
interface Page {
  events: { id: string; type: string; atpseq: string; data: AvailabilityChanged }[];
  next: string;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(new URL(path, BASE), { headers: KEY ? { authorization: `Bearer ${KEY}` } : {} });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const feed = (after: string) => get<Page>(`/v1/events?type=availability.changed&limit=1000&after=${after}`);

/** Your side: update the listing (here: print it). */
function list(sku: string, available: number, source: 'snapshot' | 'event', asOf?: string): void {
  console.log(JSON.stringify({ sku, available, source, ...(asOf ? { asOf } : {}) }));
}

function saveCursor(cursor: string): void {
  writeFileSync(`${CURSOR_FILE}.tmp`, cursor);
  renameSync(`${CURSOR_FILE}.tmp`, CURSOR_FILE);
}

/** Where the feed ends now (`next` stops moving), then a snapshot of SKUS. */
async function bootstrap(): Promise<string> {
  let cursor = '0.0';
  for (;;) {
    const page = await feed(cursor);
    if (page.next === cursor) break;
    cursor = page.next;
  }
  // GET /v1/atp takes up to 100 SKUs per request; `*` is any channel the rules do not name
  const asked = CHANNEL === '*' ? 'any-unnamed-channel' : CHANNEL;
  for (let i = 0; i < SKUS.length; i += 100) {
    const q = SKUS.slice(i, i + 100).map((s) => `sku=${encodeURIComponent(s)}`).join('&');
    const atp = await get<{ skus: { sku: string; channel: { available: number } }[] }>(`/v1/atp?${q}&channel=${encodeURIComponent(asked)}`);
    for (const s of atp.skus) list(s.sku, s.channel.available, 'snapshot');
  }
  saveCursor(cursor);
  return cursor;
}

async function main(): Promise<void> {
  let cursor = existsSync(CURSOR_FILE) ? readFileSync(CURSOR_FILE, 'utf8').trim() : await bootstrap();
  for (;;) {
    const page = await feed(cursor);
    for (const e of page.events) if (e.data.channel === CHANNEL) list(e.data.sku, e.data.available, 'event', e.data.asOf);
    if (page.next !== cursor) saveCursor((cursor = page.next));
    if (page.events.length === 0) {
      if (ONCE) return;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
