// TANDEM_KV_MEMORY_FRACTION: the KV budget as a share of the memory this rank has left once its
// weights and the process itself are in memory. The engine allocates the whole budget at load, so
// too large a number gets the pod OOM-killed and too small a one wastes the pod; this sizes it from
// the pod's own limit instead of a fixed default.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';

/** The budget never goes below this, whatever the inputs (the engine then says if a sequence cannot fit). */
export const MIN_KV_BYTES = 16 * 1024 * 1024;

export interface KvBudgetInputs {
  /** TANDEM_KV_MEMORY_FRACTION, in (0, 1]. */
  readonly fraction: number;
  /** The cgroup memory limit in bytes; undefined when there is none ("max", unlimited, no cgroup). */
  readonly cgroupLimitBytes: number | undefined;
  /** os.totalmem(). */
  readonly totalMemBytes: number;
  /** Total size of the model folder's *.safetensors files. */
  readonly modelBytes: number;
  /** TANDEM_WORLD_SIZE: each rank holds 1/worldSize of the weights. */
  readonly worldSize: number;
  /** This process's resident set size now (before loading). */
  readonly rssBytes: number;
}

export interface KvBudget extends KvBudgetInputs {
  /** cgroup limit capped by total memory. */
  readonly availableBytes: number;
  readonly rankWeightBytes: number;
  /** What is passed to the engine as kvMemoryBytes. */
  readonly bytes: number;
  /** True when the computed share was below MIN_KV_BYTES (memory is too tight for the weights). */
  readonly clamped: boolean;
}

/** budget = fraction x (min(cgroup limit, total memory) - weights / world size - RSS), at least MIN_KV_BYTES. */
export function computeKvBudget(inputs: KvBudgetInputs): KvBudget {
  const { fraction, cgroupLimitBytes, totalMemBytes, modelBytes, worldSize, rssBytes } = inputs;
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`TANDEM_KV_MEMORY_FRACTION: must be in (0, 1], got ${fraction}`);
  const availableBytes = cgroupLimitBytes === undefined ? totalMemBytes : Math.min(cgroupLimitBytes, totalMemBytes);
  const rankWeightBytes = Math.ceil(modelBytes / Math.max(1, worldSize));
  const share = Math.floor(fraction * (availableBytes - rankWeightBytes - rssBytes));
  const clamped = share < MIN_KV_BYTES;
  return { ...inputs, availableBytes, rankWeightBytes, bytes: clamped ? MIN_KV_BYTES : share, clamped };
}

/**
 * A cgroup memory limit file's content in bytes, or undefined for "no limit": cgroup v2 writes
 * "max", cgroup v1 a number near 2^63. Anything beyond 2^53 is treated as no limit (it is far
 * above any real machine's memory, and os.totalmem() caps the result anyway).
 */
export function parseCgroupLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === 'max' || !/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n > 0 && n <= Number.MAX_SAFE_INTEGER ? n : undefined;
}

export const CGROUP_LIMIT_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'] as const;

/** The first readable cgroup limit file (v2, then v1); undefined when none sets a limit. */
export function readCgroupLimit(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  for (const path of CGROUP_LIMIT_FILES) {
    let text: string;
    try {
      text = read(path);
    } catch {
      continue;
    }
    return parseCgroupLimit(text);
  }
  return undefined;
}

/** Total bytes of the *.safetensors files directly in `modelDir` (a sharded checkpoint has several). */
export function safetensorsBytes(modelDir: string): number {
  let total = 0;
  for (const name of readdirSync(modelDir)) {
    if (name.endsWith('.safetensors')) total += statSync(join(modelDir, name)).size;
  }
  return total;
}

/** The budget for this process, from the live machine: cgroup, RAM, the model folder and RSS now. */
export function kvBudgetForProcess(fraction: number, modelDir: string, worldSize: number): KvBudget {
  return computeKvBudget({
    fraction,
    cgroupLimitBytes: readCgroupLimit(),
    totalMemBytes: totalmem(),
    modelBytes: safetensorsBytes(modelDir),
    worldSize,
    rssBytes: process.memoryUsage.rss(),
  });
}
