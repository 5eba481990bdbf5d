/**
 * Size of the fault suite. The default (CI) run is bounded so the whole suite adds a few minutes
 * on a 2-core machine; FAULTS_LONG=1 (`npm run test:faults:long`) runs the same tests longer and
 * with more faults. FAULTS_SEED fixes the random schedule (the seed is printed in each report).
 */
export const LONG = process.env.FAULTS_LONG === '1';
export const scale = <T>(short: T, long: T): T => (LONG ? long : short);
export const SEED = Number(process.env.FAULTS_SEED ?? Date.now() % 2 ** 31);

/** mulberry32: a small seeded PRNG so a failing schedule can be replayed with FAULTS_SEED. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
