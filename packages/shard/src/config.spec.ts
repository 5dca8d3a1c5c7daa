import { readFileSync } from 'node:fs';
import { describeConfig, loadConfig } from '@tandem/kit';
import { describe, expect, it } from 'vitest';
import { SHARD_CONFIG } from './config.js';

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
