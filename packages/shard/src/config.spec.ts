import { readFileSync } from 'node:fs';
import { describeConfig, loadConfig, TandemError } from '@tandem/kit';
import { SHARD_ENV_NAMES } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import { checkTensorParallel, checkWeightDtype, SHARD_CONFIG } from './config.js';

/** The problems loadConfig reports for `env` (with TANDEM_MODEL_DIR set), [] when it loads. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(SHARD_CONFIG, { env: { TANDEM_MODEL_DIR: '/m', ...env } });
    return [];
  } catch (err) {
    if (err instanceof TandemError) return [...err.issues];
    throw err;
  }
}
const load = (env: Record<string, string>) => loadConfig(SHARD_CONFIG, { env: { TANDEM_MODEL_DIR: '/m', ...env } });

describe('shard config', () => {
  it('has defaults matching DESIGN.md (engine port 50061, rank 0 of 1, cpu)', () => {
    const c = loadConfig(SHARD_CONFIG, { env: { TANDEM_MODEL_DIR: '/m' } });
    expect(c).toMatchObject({ modelDir: '/m', port: 50061, rank: 0, worldSize: 1, backend: 'cpu', host: '0.0.0.0', drainTimeoutMs: 30_000 });
    expect(c).toMatchObject({ ranksPerPod: 1, dtype: 'auto', prefixCaching: false, kvMemoryFraction: undefined, modelMerge: undefined });
  });

  it('is documented in README.md (regenerate the table from SHARD_CONFIG if this fails)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(describeConfig(SHARD_CONFIG));
  });

  it('reads exactly the variables @tandem/schemas lists for the operator (SHARD_ENV_NAMES)', () => {
    expect(Object.values(SHARD_CONFIG).map((f) => f.env).sort()).toEqual([...SHARD_ENV_NAMES].sort());
  });
});

describe('the environment the operator renders (operators/model-operator/tests/fixtures/shard-env.json)', () => {
  const fixture = JSON.parse(readFileSync(new URL('../../../operators/model-operator/tests/fixtures/shard-env.json', import.meta.url), 'utf8')) as Record<string, Record<string, string>>;

  it('a default cpu ModelDeployment loads, every variable honoured', () => {
    const c = loadConfig(SHARD_CONFIG, { env: fixture.cpuDefault });
    expect(c).toMatchObject({ backend: 'cpu', ranksPerPod: 1, dtype: 'auto', kvMemoryFraction: 0.9, prefixCaching: false, maxBatchTokens: 8192, threads: 4 });
  });

  it('every unsupported setting of a full ModelDeployment is refused by name, none ignored', () => {
    const env = fixture.full!;
    for (const name of Object.keys(env)) expect(SHARD_ENV_NAMES).toContain(name);
    expect(problems(env).map((p) => p.split(':')[0]).sort()).toEqual(['TANDEM_BACKEND', 'TANDEM_DTYPE', 'TANDEM_MODEL_MERGE', 'TANDEM_RANKS_PER_POD']);
  });
});

describe('settings the engine cannot honour yet are refused with a reason', () => {
  it('TANDEM_BACKEND: cuda says this build has only the CPU backend; anything else lists the choice', () => {
    expect(problems({ TANDEM_BACKEND: 'cuda' })).toEqual([
      'TANDEM_BACKEND: cuda is not available: this build has only the CPU backend; set TANDEM_BACKEND=cpu (spec.engine.backend: cpu)',
    ]);
    expect(problems({ TANDEM_BACKEND: 'rocm' })).toEqual(['TANDEM_BACKEND: must be cpu (this build\'s only backend), got "rocm"']);
    expect(load({ TANDEM_BACKEND: 'cpu' }).backend).toBe('cpu');
  });

  it('TANDEM_RANKS_PER_POD: only 1', () => {
    expect(problems({ TANDEM_RANKS_PER_POD: '2' })).toEqual([
      'TANDEM_RANKS_PER_POD: 2 ranks per pod is not supported: one rank per pod on the CPU backend; set parallelism.gpusPerPod: 1',
    ]);
    expect(problems({ TANDEM_RANKS_PER_POD: '0' })[0]).toMatch(/^TANDEM_RANKS_PER_POD:/);
    expect(load({ TANDEM_RANKS_PER_POD: '1' }).ranksPerPod).toBe(1);
  });

  it('TANDEM_PREFIX_CACHING: true is not implemented; false is accepted', () => {
    expect(problems({ TANDEM_PREFIX_CACHING: 'true' })).toEqual([expect.stringMatching(/^TANDEM_PREFIX_CACHING: prefix caching is not implemented yet: /)]);
    expect(load({ TANDEM_PREFIX_CACHING: 'false' }).prefixCaching).toBe(false);
    expect(problems({ TANDEM_PREFIX_CACHING: 'maybe' })[0]).toMatch(/^TANDEM_PREFIX_CACHING:/);
  });

  it('TANDEM_DTYPE: fp8 needs CUDA on Hopper; auto and bf16 load; anything else lists the choices', () => {
    expect(problems({ TANDEM_DTYPE: 'fp8' })).toEqual([
      'TANDEM_DTYPE: fp8 needs the CUDA backend on Hopper, which this build does not have; use auto (the checkpoint\'s stored dtype) or bf16',
    ]);
    expect(load({ TANDEM_DTYPE: 'bf16' }).dtype).toBe('bf16');
    expect(load({ TANDEM_DTYPE: 'auto' }).dtype).toBe('auto');
    expect(problems({ TANDEM_DTYPE: 'f16' })).toEqual(['TANDEM_DTYPE: must be auto, bf16 or fp8, got "f16"']);
  });

  it('TANDEM_MODEL_MERGE: merging is not implemented; an empty list is no merge', () => {
    expect(problems({ TANDEM_MODEL_MERGE: '[{"dir":"/models/merge-0","weight":0.5}]' })).toEqual([
      'TANDEM_MODEL_MERGE: merging checkpoints at load time is not implemented yet; remove spec.model.merge (unset TANDEM_MODEL_MERGE)',
    ]);
    expect(load({ TANDEM_MODEL_MERGE: '[]' }).modelMerge).toBe('[]');
  });

  it('TANDEM_KV_MEMORY_FRACTION: a number in (0, 1]', () => {
    expect(load({ TANDEM_KV_MEMORY_FRACTION: '0.9' }).kvMemoryFraction).toBe(0.9);
    expect(load({ TANDEM_KV_MEMORY_FRACTION: '1' }).kvMemoryFraction).toBe(1);
    for (const bad of ['0', '1.5', '-0.5', 'most', '0.9x']) {
      expect(problems({ TANDEM_KV_MEMORY_FRACTION: bad })).toEqual([`TANDEM_KV_MEMORY_FRACTION: must be a number in (0, 1], got "${bad}"`]);
    }
  });

  it('reports every refused variable at once', () => {
    expect(problems({ TANDEM_BACKEND: 'cuda', TANDEM_PREFIX_CACHING: 'true', TANDEM_DTYPE: 'fp8' })).toHaveLength(3);
  });
});

describe('checkWeightDtype (TANDEM_DTYPE against the loaded checkpoint)', () => {
  it('auto accepts any stored dtype; bf16 accepts bf16', () => {
    for (const stored of ['f32', 'bf16', 'f16']) expect(() => checkWeightDtype('auto', stored)).not.toThrow();
    expect(() => checkWeightDtype('bf16', 'bf16')).not.toThrow();
  });
  it('bf16 on another stored dtype names TANDEM_DTYPE, the stored dtype, and that the engine does not convert', () => {
    expect(() => checkWeightDtype('bf16', 'f32')).toThrow(/^TANDEM_DTYPE: bf16 was asked .* stored as f32, and the engine does not convert weights/);
  });
});

describe('tensor-parallel config', () => {
  const check = (env: Record<string, string>) => checkTensorParallel(load(env));
  it('accepts a group with a leader address', () => {
    expect(() => check({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: '127.0.0.1:29500' })).not.toThrow();
  });
  it('names TANDEM_RANK when it is not below the world size, and TANDEM_LEADER_ADDR when missing', () => {
    expect(() => check({ TANDEM_RANK: '2', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: 'h:1' })).toThrow(/TANDEM_RANK.*TANDEM_WORLD_SIZE/);
    expect(() => check({ TANDEM_WORLD_SIZE: '2' })).toThrow(/TANDEM_LEADER_ADDR/);
  });
});
