/**
 * Summarise a V8 CPU profile (`--profile` of the benches writes them to bench/profiles/):
 * `npx tsx bench/profile-summary.ts bench/profiles/service-a-….cpuprofile [--top 30]`.
 *
 * Prints the share of samples by where the time is spent (a package under node_modules, a file of
 * src/, a Node internal module, native code, GC, idle) and the hottest functions by self time, and
 * — with `--inclusive name[,name]` — the share of samples with a function of that name anywhere
 * on the stack (e.g. `reserveBatch`, `fingerprint`). `--window from:to` (seconds before the end of
 * the profile, e.g. `12:1`) keeps only the samples of the load phase, not start-up and seeding.
 * V8 samples wall-clock time on the main thread: a native call (a socket write) shows the time the
 * thread spent in it, including time the OS ran another process instead.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  startTime: number;
  endTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: a package, a source file of this project, a Node internal, or a V8 pseudo-frame. */
export function placeOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return '(program)';
    return `(native) ${functionName || '(anonymous)'}`;
  }
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return `pkg ${rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1);
  return url;
}

export function summarise(profile: Profile, inclusive: string[] = [], window?: { fromS: number; toS: number }) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  let total = 0;
  let at = profile.startTime;
  const lo = window ? profile.endTime - window.fromS * 1e6 : -Infinity;
  const hi = window ? profile.endTime - window.toS * 1e6 : Infinity;
  profile.samples.forEach((id, i) => {
    const dt = Math.max(0, profile.timeDeltas[i] ?? 0);
    at += dt;
    if (at <= lo || at > hi) return; // a sample stands for the interval (previous sample, this one]
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    total += dt;
  });
  const places = new Map<string, number>();
  const functions = new Map<string, number>();
  const incl = new Map<string, number>(inclusive.map((n) => [n, 0]));
  for (const [id, us] of selfUs) {
    const node = byId.get(id)!;
    const place = placeOf(node.callFrame);
    places.set(place, (places.get(place) ?? 0) + us);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${placeOf(node.callFrame)}:${node.callFrame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    if (incl.size > 0) {
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const name = byId.get(cur)!.callFrame.functionName;
        if (incl.has(name) && !seen.has(name)) {
          seen.add(name);
          incl.set(name, incl.get(name)! + us);
        }
      }
    }
  }
  const share = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ what: k, pct: Math.round((1000 * us) / total) / 10 }));
  return { totalMs: Math.round(total / 1000), places: share(places), functions: share(functions), inclusive: share(incl) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' }, inclusive: { type: 'string' }, window: { type: 'string' } } });
  if (positionals.length === 0) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--inclusive fnA,fnB] [--window from:to]');
    process.exit(2);
  }
  const top = Number(values.top ?? 30);
  const [fromS, toS = 0] = (values.window ?? '').split(':').map(Number);
  if (!Number.isInteger(top) || top < 1 || (values.window && !(fromS! > toS && toS >= 0))) {
    console.error('--top must be a whole number ≥ 1; --window from:to must be seconds before the end with from > to ≥ 0 (e.g. 11:1)');
    process.exit(2);
  }
  const window = values.window ? { fromS: fromS!, toS } : undefined;
  for (const file of positionals) {
    const s = summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile, values.inclusive?.split(',') ?? [], window);
    console.log(`${file}: ${s.totalMs} ms sampled`);
    console.log('\nby place (self time)');
    for (const p of s.places.slice(0, top)) console.log(`${String(p.pct).padStart(6)} %  ${p.what}`);
    console.log('\nhottest functions (self time)');
    for (const f of s.functions.slice(0, top)) console.log(`${String(f.pct).padStart(6)} %  ${f.what}`);
    if (s.inclusive.length > 0) {
      console.log('\ninclusive (anywhere on the stack)');
      for (const f of s.inclusive) console.log(`${String(f.pct).padStart(6)} %  ${f.what}`);
    }
  }
}
