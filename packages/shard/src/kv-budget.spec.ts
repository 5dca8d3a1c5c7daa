import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeKvBudget, MIN_KV_BYTES, parseCgroupLimit, readCgroupLimit, safetensorsBytes, type KvBudgetInputs } from './kv-budget.js';

const GiB = 1024 ** 3;
const base: KvBudgetInputs = { fraction: 0.9, cgroupLimitBytes: 32 * GiB, totalMemBytes: 256 * GiB, modelBytes: 16 * GiB, worldSize: 2, rssBytes: 1 * GiB };

describe('computeKvBudget', () => {
  it('takes the fraction of the pod limit left after this rank\'s weights and the process', () => {
    // 0.9 x (32 - 16/2 - 1) GiB
    const b = computeKvBudget(base);
    expect(b).toMatchObject({ availableBytes: 32 * GiB, rankWeightBytes: 8 * GiB, bytes: Math.floor(0.9 * 23 * GiB), clamped: false });
  });

  it('caps the cgroup limit by the machine memory, and uses the machine memory without a limit', () => {
    expect(computeKvBudget({ ...base, cgroupLimitBytes: 512 * GiB }).availableBytes).toBe(256 * GiB);
    expect(computeKvBudget({ ...base, cgroupLimitBytes: undefined })).toMatchObject({ availableBytes: 256 * GiB, bytes: Math.floor(0.9 * 247 * GiB) });
  });

  it('splits the weights across the tensor-parallel group', () => {
    expect(computeKvBudget({ ...base, worldSize: 1 }).bytes).toBe(Math.floor(0.9 * 15 * GiB));
    expect(computeKvBudget({ ...base, worldSize: 4 }).bytes).toBe(Math.floor(0.9 * 27 * GiB));
  });

  it('never goes below 16 MiB, and says so, when the weights do not leave room', () => {
    expect(computeKvBudget({ ...base, cgroupLimitBytes: 8 * GiB })).toMatchObject({ bytes: MIN_KV_BYTES, clamped: true });
    expect(computeKvBudget({ ...base, fraction: 1e-9 })).toMatchObject({ bytes: MIN_KV_BYTES, clamped: true });
    expect(MIN_KV_BYTES).toBe(16 * 1024 * 1024);
  });

  it('returns whole bytes and refuses a fraction outside (0, 1]', () => {
    expect(Number.isInteger(computeKvBudget({ ...base, fraction: 1 / 3 }).bytes)).toBe(true);
    expect(computeKvBudget({ ...base, fraction: 1 }).bytes).toBe(23 * GiB);
    expect(() => computeKvBudget({ ...base, fraction: 0 })).toThrow(/TANDEM_KV_MEMORY_FRACTION/);
    expect(() => computeKvBudget({ ...base, fraction: 1.2 })).toThrow(/TANDEM_KV_MEMORY_FRACTION/);
  });
});

describe('cgroup memory limit', () => {
  it('parses v2 "max" and v1 "unlimited" as no limit, numbers as bytes', () => {
    expect(parseCgroupLimit('max\n')).toBeUndefined();
    expect(parseCgroupLimit('9223372036854771712\n')).toBeUndefined();
    expect(parseCgroupLimit('34359738368\n')).toBe(32 * GiB);
    expect(parseCgroupLimit('')).toBeUndefined();
  });

  it('reads cgroup v2 first, then v1, and finds none when neither file exists', () => {
    const files = (map: Record<string, string>) => (path: string) => {
      if (!(path in map)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return map[path]!;
    };
    expect(readCgroupLimit(files({ '/sys/fs/cgroup/memory.max': '1073741824\n', '/sys/fs/cgroup/memory/memory.limit_in_bytes': '2147483648\n' }))).toBe(GiB);
    expect(readCgroupLimit(files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '2147483648\n' }))).toBe(2 * GiB);
    expect(readCgroupLimit(files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeUndefined();
    expect(readCgroupLimit(files({}))).toBeUndefined();
  });
});

describe('safetensorsBytes', () => {
  it('sums every *.safetensors file of a sharded checkpoint and nothing else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kv-budget-'));
    try {
      writeFileSync(join(dir, 'model-00001-of-00002.safetensors'), Buffer.alloc(1000));
      writeFileSync(join(dir, 'model-00002-of-00002.safetensors'), Buffer.alloc(500));
      writeFileSync(join(dir, 'model.safetensors.index.json'), '{}');
      writeFileSync(join(dir, 'config.json'), '{}');
      expect(safetensorsBytes(dir)).toBe(1500);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
