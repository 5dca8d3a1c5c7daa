// Tensor parallelism end to end: the real `tandem` binary with --tp N spawns N-1 follower
// processes; results must match --tp 1, and a dead rank must take the whole group down quickly.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelPreset } from '@tandem/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomTensor } from './model-init.js';
import { PRESETS, presetConfigJson, tensorSpecs } from './presets.js';
import { writeCheckpoint } from './safetensors-writer.js';
import { REPO, TINY, readGolden, runTandem, tryLoadEngine } from './test-support.js';
import { rankFromEnv } from './tp.js';

const engineModule = await tryLoadEngine();
const golden = readGolden();
const tmp = mkdtempSync(join(tmpdir(), 'tandem-tp-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A config.json + model.safetensors (no tokenizer) for a custom shape. */
async function writeModel(dir: string, shape: Partial<ModelPreset>): Promise<string> {
  const preset = { ...PRESETS['cohere2-tiny'], bos_token_id: 5, eos_token_id: 3, pad_token_id: 0, ...shape } as ModelPreset;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(presetConfigJson(preset, 'f32')));
  await writeCheckpoint(dir, tensorSpecs(preset).map((s) => randomTensor(s, 11, 'f32')));
  return dir;
}

// GQA 3:1 (6 query heads, 2 KV heads: 3 + 1 per rank at TP=2), window 5 (block size 16),
// vocab 250 (not a multiple of 64; 125 rows per rank).
const AWKWARD: Partial<ModelPreset> = {
  vocab_size: 250, hidden_size: 48, num_hidden_layers: 4, num_attention_heads: 6, num_key_value_heads: 2,
  intermediate_size: 96, sliding_window: 5, max_position_embeddings: 128,
};

function maxAbsDiff(a: number[][], b: number[][]): number {
  expect(a.flat().length).toBe(b.flat().length);
  const fb = b.flat();
  return a.flat().reduce((m, v, i) => Math.max(m, Math.abs(v - fb[i]!)), 0);
}

async function logits(model: string, tokens: number[], tp: number): Promise<number[][]> {
  const r = await runTandem(['logits', '--model', model, '--tokens', tokens.join(','), '--all-positions', '--tp', String(tp)]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { logits: number[][] }).logits;
}

async function greedy(model: string, tokens: number[], n: number, tp: number, sampling: string[] = []): Promise<number[]> {
  const r = await runTandem(['generate', '--model', model, '--tokens', tokens.join(','), '--max-tokens', String(n), '--ignore-eos',
    '--json', '--tp', String(tp), ...sampling]);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { tokens: number[] }).tokens;
}

describe('rank identity from the environment', () => {
  it('reads TANDEM_RANK / TANDEM_WORLD_SIZE / TANDEM_LEADER_ADDR and names the bad variable', () => {
    expect(rankFromEnv({})).toBeUndefined();
    expect(rankFromEnv({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: 'rank0:50071' }))
      .toEqual({ rank: 1, worldSize: 2, leaderAddr: 'rank0:50071' });
    expect(() => rankFromEnv({ TANDEM_RANK: '2', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: 'a:1' })).toThrow(/TANDEM_RANK: 2 is not below/);
    expect(() => rankFromEnv({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: 'x', TANDEM_LEADER_ADDR: 'a:1' })).toThrow(/TANDEM_WORLD_SIZE/);
    expect(() => rankFromEnv({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: '2' })).toThrow(/TANDEM_LEADER_ADDR: must be host:port/);
  });
});

describe.skipIf(!engineModule)('tandem --tp 2 equals --tp 1', () => {
  let awkward = '';
  beforeAll(async () => { awkward = await writeModel(join(tmp, 'awkward'), AWKWARD); });

  it('cohere2-tiny: logits at every position within 1e-4 and the golden greedy tokens', async () => {
    for (const i of [0, 2]) {
      const prompt = golden.prompts[i]!;
      expect(maxAbsDiff(await logits(TINY, prompt, 2), await logits(TINY, prompt, 1))).toBeLessThan(1e-4);
      expect(await greedy(TINY, prompt, golden.cases[i]!.greedy.new_tokens.length, 2)).toEqual(golden.cases[i]!.greedy.new_tokens);
    }
  }, 60_000);

  it('awkward shapes (GQA 3:1, window 5, vocab 250): logits within 1e-4, greedy and seeded tokens identical', async () => {
    const prompt = Array.from({ length: 23 }, (_, i) => (i * 37 + 5) % 250);
    expect(maxAbsDiff(await logits(awkward, prompt, 2), await logits(awkward, prompt, 1))).toBeLessThan(1e-4);
    expect(await greedy(awkward, prompt, 40, 2)).toEqual(await greedy(awkward, prompt, 40, 1));
    // Seeded sampling: top-k goes through the per-rank candidates, top-p alone and penalties
    // through whole rows; either way the tokens are TP=1's.
    for (const sampling of [['--temperature', '0.9', '--top-k', '7', '--seed', '11'], ['--temperature', '1.2', '--top-p', '0.8', '--seed', '5'],
      ['--repetition-penalty', '1.3', '--temperature', '0.7', '--top-k', '20', '--seed', '2']]) {
      expect(await greedy(awkward, prompt, 30, 2, sampling), sampling.join(' ')).toEqual(await greedy(awkward, prompt, 30, 1, sampling));
    }
  }, 90_000);

  it('a TP size the heads cannot split is rejected naming the field, and no rank is left behind', async () => {
    const t0 = performance.now();
    const r = await runTandem(['logits', '--model', awkward, '--tokens', '1,2', '--tp', '4']);
    expect(r.code, r.stderr).toBe(2);  // INVALID_ARGUMENT: bad usage, like a bad flag
    expect(r.stderr).toMatch(/tensor parallelism 4: num_attention_heads 6 is not divisible by 4/);
    expect(performance.now() - t0).toBeLessThan(15_000);
    const pids = [...r.stderr.matchAll(/started rank \d of 4 \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(3);
    for (const pid of pids) expect(alive(pid)).toBe(false);
  }, 30_000);
});

describe.skipIf(!engineModule)('tandem bench tp', () => {
  it('prints decode rates for TP=1 and TP=2 over shm and tcp, collective traffic per step and RSS per rank', async () => {
    const r = await runTandem(['bench', 'tp', '--model', TINY, '--decode-tokens', '4', '--batch', '2', '--rounds', '1']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { decode_tok_s_batch1: number; collective_ops_per_step: number;
      collective_bytes_per_step: number; rss_per_rank: { rank: number; rss: number }[]; transport: string }>;
    expect(out.tp2!.transport).toBe('shm');
    expect(out.tp2_tcp!.transport).toBe('tcp');
    expect(out.tp2_tcp!.decode_tok_s_batch1).toBeGreaterThan(0);
    expect(out.tp1!.decode_tok_s_batch1).toBeGreaterThan(0);
    expect(out.tp2!.decode_tok_s_batch1).toBeGreaterThan(0);
    expect(out.tp1!.collective_ops_per_step).toBe(0);
    // tiny has 8 layers: embedding + 8 layer all-reduces + the logits gather + the plan broadcast
    // (an idle heartbeat between the runs may add a little)
    expect(out.tp2!.collective_ops_per_step).toBeGreaterThanOrEqual(11);
    expect(out.tp2!.collective_ops_per_step).toBeLessThan(12);
    expect(out.tp2!.collective_bytes_per_step).toBeGreaterThan(0);
    expect(out.tp2!.rss_per_rank.map((p) => p.rank)).toEqual([0, 1]);
    expect(r.stderr).toMatch(/TP=2 \/ TP=1 over shm: batch 1/);
    expect(r.stderr).toMatch(/TP=2 \/ TP=1 over tcp: batch 1/);
  }, 60_000);
});

/** Spawns `tandem generate --tp 2` streaming tokens; resolves with the follower pid once tokens flow. */
function startLongGeneration(model: string): { child: ChildProcess; follower: Promise<number>; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, ['packages/cli/bin/tandem.js', 'generate', '--model', model, '--tokens', '5,6,7',
    '--max-tokens', '4000', '--ignore-eos', '--tp', '2', '--threads', '1'], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  const follower = new Promise<number>((resolve, reject) => {
    let pid = -1;
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const m = /started rank 1 of 2 \(pid (\d+)\)/.exec(stderr);
      if (m) pid = Number(m[1]);
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (pid > 0 && stdout.split(' ').length > 20) resolve(pid);
    });
    child.once('exit', () => reject(new Error(`generation ended before it could be interrupted: ${stderr}`)));
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
  return { child, follower, exited };
}

/** Running (a zombie nobody reaped yet counts as gone: it has exited). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe.skipIf(!engineModule)('a rank that dies takes the group down', () => {
  let model = '';
  beforeAll(async () => {
    // Big enough that 4000 tokens take many seconds, small enough to write quickly (4M parameters).
    model = await writeModel(join(tmp, 'long'), {
      vocab_size: 512, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2,
      intermediate_size: 1024, sliding_window: 64, max_position_embeddings: 4096,
    });
  }, 60_000);

  it('SIGKILL of a follower mid-generation: rank 0 exits non-zero within 5 s with a clear error', async () => {
    const { follower, exited } = startLongGeneration(model);
    const pid = await follower;
    const t0 = performance.now();
    process.kill(pid, 'SIGKILL');
    const { code, stderr } = await exited;
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(code).toBe(1);
    expect(stderr).toMatch(/tensor-parallel group failed: .*connection (closed|lost)/);
  }, 60_000);

  it('SIGSTOP of a follower mid-generation: rank 0 fails after the 5 s collective timeout and reaps it', async () => {
    const { follower, exited } = startLongGeneration(model);
    const pid = await follower;
    const t0 = performance.now();
    process.kill(pid, 'SIGSTOP');
    const { code, stderr } = await exited;
    expect(performance.now() - t0).toBeLessThan(7000);
    expect(code).toBe(1);
    expect(stderr).toMatch(/tensor-parallel group failed: .*the peer stalled or is gone \(peer rank 1\)/);
    expect(alive(pid)).toBe(false);
  }, 60_000);

  it('SIGKILL of rank 0 mid-generation: the follower exits within 5 s', async () => {
    const { child, follower, exited } = startLongGeneration(model);
    const pid = await follower;
    const t0 = performance.now();
    child.kill('SIGKILL');
    await exited;
    while (alive(pid) && performance.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5000);
  }, 60_000);
});
