// Shared helpers for the binding suites: fixture paths, golden files, and a recorder that
// consumes a Generation concurrently so tests can wait for "n events so far".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Engine, FinishReason, Generation, TokenEvent } from '../index.js';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const TINY = join(FIXTURES, 'cohere2-tiny');
export const TINY_BF16 = join(FIXTURES, 'cohere2-tiny-bf16-sharded');

export interface GoldenCase {
  prompt_len: number;
  final_logits: number[];
  all_logits?: number[][];
  greedy: { new_tokens: number[] };
}

export interface Golden {
  prompts: number[][];
  cases: GoldenCase[];
}

export function readGolden(modelDir: string): Golden {
  return JSON.parse(readFileSync(join(modelDir, 'golden.json'), 'utf8')) as Golden;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst;
}

export interface Outcome {
  tokens: number[];
  events: TokenEvent[];
  finish: FinishReason | undefined;
}

/** Consumes a Generation in the background; waitFor(n) resolves after n events (or the end). */
export class Recorder {
  readonly outcome: Outcome = { tokens: [], events: [], finish: undefined };
  readonly done: Promise<Outcome>;
  #waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly generation: Generation) {
    this.done = this.#run();
  }

  async #run(): Promise<Outcome> {
    try {
      for await (const ev of this.generation) {
        this.outcome.events.push(ev);
        this.outcome.tokens.push(...ev.tokens);
        if (ev.finish !== undefined) this.outcome.finish = ev.finish;
        this.#wake(false);
      }
    } finally {
      this.#wake(true);
    }
    return this.outcome;
  }

  #wake(ended: boolean): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (!ended && this.outcome.events.length < w.n) return true;
      w.resolve();
      return false;
    });
  }

  waitFor(n: number): Promise<void> {
    if (this.outcome.events.length >= n || this.outcome.finish !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }
}

export function collect(generation: Generation): Promise<Outcome> {
  return new Recorder(generation).done;
}

/** Every request has returned its KV blocks. */
export function expectKvFree(engine: Engine): void {
  const s = engine.stats();
  expect({ sliding: s.slidingBlocksUsed, full: s.fullBlocksUsed, running: s.running, waiting: s.waiting }).toEqual({
    sliding: 0,
    full: 0,
    running: 0,
    waiting: 0,
  });
}

/** Polls until the engine has nothing running (after a cancel whose final event nobody reads). */
export async function waitIdle(engine: Engine, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    const s = engine.stats();
    if (s.running === 0 && s.waiting === 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`engine still busy after ${timeoutMs} ms: ${JSON.stringify(engine.stats())}`);
}

/** Deterministic token prompts (a small LCG), so failures reproduce. */
export function makePrompt(length: number, seed: number, vocab = 384): number[] {
  let x = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(x % vocab);
  }
  return out;
}
