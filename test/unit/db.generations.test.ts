/**
 * Generations (src/db/generations.ts): which calls replace the pools and which do not. Fake pools,
 * an injected clock: nothing waits.
 */
import { expect, it } from 'vitest';
import { Generations } from '../../src/db/generations.js';

function setup(minIntervalMs = 1000) {
  let now = 0;
  const opened: number[] = [];
  const ended: number[] = [];
  const gens = new Generations<{ id: number }>({
    open: (id) => (opened.push(id), { id }),
    end: async (p) => void ended.push(p.id),
    minIntervalMs,
    now: () => now,
  });
  return { gens, opened, ended, advance: (ms: number) => (now += ms) };
}

it('the first failure of the current generation replaces it; later ones of the same generation do nothing', async () => {
  const { gens, opened, ended } = setup();
  expect(gens.id).toBe(1);
  expect(gens.replace(1, 'x')).toBe(true);
  expect(gens.replace(1, 'x')).toBe(false);
  expect(gens.current).toEqual({ id: 2 });
  expect(opened).toEqual([1, 2]);
  await Promise.resolve();
  expect(ended).toEqual([1]);
  expect(gens.replacements).toBe(1);
});

it('at most one replacement per minIntervalMs, even for the current generation', () => {
  const { gens, advance } = setup(1000);
  expect(gens.replace(1, 'x')).toBe(true);
  advance(999);
  expect(gens.replace(2, 'x')).toBe(false);
  advance(1);
  expect(gens.replace(2, 'x')).toBe(true);
  expect(gens.id).toBe(3);
});

it('close ends the current generation and waits for the ones still draining; replace does nothing after it', async () => {
  let release: () => void = () => {};
  const ended: number[] = [];
  const gens = new Generations<{ id: number }>({
    open: (id) => ({ id }),
    end: (p) => (p.id === 1 ? new Promise<void>((r) => (release = () => (ended.push(1), r()))) : (ended.push(p.id), Promise.resolve())),
    minIntervalMs: 0,
  });
  gens.replace(1, 'x');
  let closed = false;
  const closing = gens.close().then(() => (closed = true));
  await Promise.resolve();
  expect(ended).toEqual([2]);
  expect(closed).toBe(false);
  release();
  await closing;
  expect(ended).toEqual([2, 1]);
  expect(gens.replace(2, 'x')).toBe(false);
});
