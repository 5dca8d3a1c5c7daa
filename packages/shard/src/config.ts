// The shard process's configuration: one schema, each field with its environment variable.
import { env, field, type ConfigOf } from '@tandem/kit';
import { z } from 'zod';

/** A refinement that fails with `message(value)` when `ok(value)` is false (the env name is prefixed by loadConfig). */
function refuse<T>(ok: (value: T) => boolean, message: (value: T) => string) {
  return (value: T, ctx: z.RefinementCtx) => {
    if (!ok(value)) ctx.addIssue({ code: 'custom', message: message(value) });
  };
}

// Settings the operator renders from a ModelDeployment but the engine cannot honour yet are refused
// here with a reason, never silently ignored (docs/operator.md, "What the engine does not do yet").
export const SHARD_CONFIG = {
  modelDir: field('TANDEM_MODEL_DIR', env.string(), 'HF model folder (config.json + safetensors) to serve'),
  modelName: field('TANDEM_MODEL_NAME', env.string().optional(), 'model name reported by Info; default the folder name'),
  modelMerge: field(
    'TANDEM_MODEL_MERGE',
    env.string().optional().superRefine(refuse((v) => v === undefined || v.trim() === '[]', () => 'merging checkpoints at load time is not implemented yet; remove spec.model.merge (unset TANDEM_MODEL_MERGE)')),
    'checkpoints to merge into the model at load time (spec.model.merge); not implemented yet: a non-empty value is refused',
  ),
  rank: field('TANDEM_RANK', env.int({ min: 0, max: 1023 }).default(0), 'this process\'s tensor-parallel rank (0 serves gRPC; 1.. run the follower loop); below TANDEM_WORLD_SIZE'),
  worldSize: field('TANDEM_WORLD_SIZE', env.int({ min: 1, max: 1024 }).default(1), 'ranks per replica (tensor parallelism when > 1)'),
  ranksPerPod: field(
    'TANDEM_RANKS_PER_POD',
    env.int({ min: 1, max: 1024 }).superRefine(refuse((n) => n === 1, (n) => `${n} ranks per pod is not supported: one rank per pod on the CPU backend; set parallelism.gpusPerPod: 1`)).default(1),
    'ranks this process runs (spec.parallelism.gpusPerPod); only 1: the CPU backend runs one rank per process',
  ),
  leaderAddr: field('TANDEM_LEADER_ADDR', env.string().optional(), 'host:port where rank 0 meets the other ranks; required when TANDEM_WORLD_SIZE > 1'),
  tpTransport: field('TANDEM_TP_TRANSPORT', z.enum(['auto', 'tcp', 'shm']).default('auto'), 'collective transport of a tensor-parallel group: auto (shared memory when every rank is on this host, else TCP), tcp, or shm; the same on every rank'),
  backend: field(
    'TANDEM_BACKEND',
    z
      .enum(['cpu', 'cuda'], { error: (iss) => `must be cpu (this build's only backend), got ${JSON.stringify(iss.input)}` })
      .superRefine(refuse((b) => b === 'cpu', () => 'cuda is not available: this build has only the CPU backend; set TANDEM_BACKEND=cpu (spec.engine.backend: cpu)'))
      .default('cpu'),
    'compute backend: cpu (cuda is refused: this build has no CUDA backend yet)',
  ),
  dtype: field(
    'TANDEM_DTYPE',
    z
      .enum(['auto', 'bf16', 'fp8'], { error: (iss) => `must be auto, bf16 or fp8, got ${JSON.stringify(iss.input)}` })
      // Refused before loading: no checkpoint can make fp8 work on this build.
      .superRefine(refuse((d) => d !== 'fp8', () => 'fp8 needs the CUDA backend on Hopper, which this build does not have; use auto (the checkpoint\'s stored dtype) or bf16'))
      .default('auto'),
    'weight dtype (spec.engine.dtype): auto uses the checkpoint\'s stored dtype; bf16 refuses to serve a checkpoint not stored in bf16 (the engine does not convert); fp8 is refused (needs CUDA)',
  ),
  host: field('TANDEM_ENGINE_HOST', env.string().default('0.0.0.0'), 'address the engine gRPC server binds'),
  port: field('TANDEM_ENGINE_PORT', env.int({ min: 0, max: 65535 }).default(50061), 'engine gRPC port (0 = any free port)'),
  threads: field('TANDEM_THREADS', env.int({ min: 1, max: 1024 }).optional(), 'kernel threads; default all cores'),
  kvMemoryBytes: field('TANDEM_KV_MEMORY_BYTES', env.int({ min: 1 }).optional(), 'bytes for both KV pools; wins over TANDEM_KV_MEMORY_FRACTION; engine default 512 MiB'),
  kvMemoryFraction: field(
    'TANDEM_KV_MEMORY_FRACTION',
    z
      .union([z.number(), z.string()])
      .transform((v, ctx) => {
        const n = typeof v === 'number' ? v : v.trim() === '' ? Number.NaN : Number(v);
        if (n > 0 && n <= 1) return n;
        ctx.addIssue({ code: 'custom', message: `must be a number in (0, 1], got ${JSON.stringify(v)}` });
        return z.NEVER;
      })
      .optional(),
    'when TANDEM_KV_MEMORY_BYTES is unset: KV bytes = this x (memory limit (cgroup, capped by RAM) - this rank\'s weights - process RSS), at least 16 MiB',
  ),
  prefixCaching: field(
    'TANDEM_PREFIX_CACHING',
    env.bool().superRefine(refuse((on) => !on, () => 'prefix caching is not implemented yet: the engine does not reuse KV blocks across requests (the router\'s prefix affinity still sends shared prefixes to one replica); set false (spec.engine.prefixCaching: false)')).default(false),
    'reuse KV blocks of shared prefixes (spec.engine.prefixCaching); not implemented yet: true is refused',
  ),
  blockSize: field('TANDEM_BLOCK_SIZE', env.int({ min: 1, max: 1024 }).optional(), 'KV block size in positions; engine default 16'),
  maxBatchTokens: field('TANDEM_MAX_BATCH_TOKENS', env.int({ min: 1 }).optional(), 'tokens computed per engine step; engine default 512'),
  maxRunning: field('TANDEM_MAX_RUNNING', env.int({ min: 1 }).optional(), 'sequences running at once; engine default 64'),
  maxSeqLen: field('TANDEM_MAX_SEQ_LEN', env.int({ min: 1 }).optional(), 'prompt + output limit; default the model\'s max_position_embeddings'),
  drainTimeoutMs: field('TANDEM_DRAIN_TIMEOUT_MS', env.int({ min: 0 }).default(30_000), 'longest SIGTERM drain before exiting anyway'),
  logLevel: field('TANDEM_LOG_LEVEL', z.enum(['debug', 'info', 'warn', 'error']).default('info'), 'log level'),
};

export type ShardConfig = ConfigOf<typeof SHARD_CONFIG>;

/**
 * TANDEM_DTYPE against the dtype the checkpoint's weights are stored in (known after loading):
 * bf16 is an assertion, since the engine serves weights in their stored dtype and never converts.
 * Throws an Error naming TANDEM_DTYPE.
 */
export function checkWeightDtype(requested: ShardConfig['dtype'], stored: string): void {
  if (requested === 'auto' || requested === stored) return;
  throw new Error(
    `TANDEM_DTYPE: ${requested} was asked (spec.engine.dtype) but the checkpoint's weights are stored as ${stored}, ` +
      `and the engine does not convert weights; use auto (serve them as ${stored}) or a checkpoint stored in ${requested}`,
  );
}

/**
 * Cross-field rules loadConfig cannot express: rank < world size, and a leader address for a
 * group. Throws an Error naming the variables.
 */
export function checkTensorParallel(config: Pick<ShardConfig, 'rank' | 'worldSize' | 'leaderAddr'>): void {
  if (config.rank >= config.worldSize) {
    throw new Error(`TANDEM_RANK: ${config.rank} must be below TANDEM_WORLD_SIZE (${config.worldSize})`);
  }
  if (config.worldSize > 1 && !/^[^\s:]+:\d+$/.test(config.leaderAddr ?? '')) {
    throw new Error(`TANDEM_LEADER_ADDR: required as host:port when TANDEM_WORLD_SIZE > 1, got ${JSON.stringify(config.leaderAddr ?? null)}`);
  }
}
