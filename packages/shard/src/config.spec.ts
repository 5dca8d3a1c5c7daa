import { readFileSync } from 'node:fs';
import { describeConfig, loadConfig } from '@tandem/kit';
import { describe, expect, it } from 'vitest';
import { checkTensorParallel, SHARD_CONFIG } from './config.js';

describe('shard config', () => {
  it('has defaults matching DESIGN.md (engine port 50061, rank 0 of 1, cpu)', () => {
    const c = loadConfig(SHARD_CONFIG, { env: { TANDEM_MODEL_DIR: '/m' } });
    expect(c).toMatchObject({ modelDir: '/m', port: 50061, rank: 0, worldSize: 1, backend: 'cpu', host: '0.0.0.0', drainTimeoutMs: 30_000 });
  });

  it('is documented in README.md (regenerate the table from SHARD_CONFIG if this fails)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(describeConfig(SHARD_CONFIG));
  });
});

describe('tensor-parallel config', () => {
  const load = (env: Record<string, string>) => checkTensorParallel(loadConfig(SHARD_CONFIG, { env: { TANDEM_MODEL_DIR: '/m', ...env } }));
  it('accepts a group with a leader address', () => {
    expect(() => load({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: '127.0.0.1:29500' })).not.toThrow();
  });
  it('names TANDEM_RANK when it is not below the world size, and TANDEM_LEADER_ADDR when missing', () => {
    expect(() => load({ TANDEM_RANK: '2', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: 'h:1' })).toThrow(/TANDEM_RANK.*TANDEM_WORLD_SIZE/);
    expect(() => load({ TANDEM_WORLD_SIZE: '2' })).toThrow(/TANDEM_LEADER_ADDR/);
  });
});
