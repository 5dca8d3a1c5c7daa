// The shard process's configuration: one schema, each field with its environment variable.
import { env, field, type ConfigOf } from '@tandem/kit';
import { z } from 'zod';

export const SHARD_CONFIG = {
  modelDir: field('TANDEM_MODEL_DIR', env.string(), 'HF model folder (config.json + safetensors) to serve'),
  modelName: field('TANDEM_MODEL_NAME', env.string().optional(), 'model name reported by Info; default the folder name'),
  rank: field('TANDEM_RANK', env.int({ min: 0, max: 1023 }).default(0), 'this process\'s tensor-parallel rank (0 serves gRPC; 1.. run the follower loop); below TANDEM_WORLD_SIZE'),
  worldSize: field('TANDEM_WORLD_SIZE', env.int({ min: 1, max: 1024 }).default(1), 'ranks per replica (tensor parallelism when > 1)'),
  leaderAddr: field('TANDEM_LEADER_ADDR', env.string().optional(), 'host:port where rank 0 meets the other ranks; required when TANDEM_WORLD_SIZE > 1'),
  tpTransport: field('TANDEM_TP_TRANSPORT', z.enum(['auto', 'tcp', 'shm']).default('auto'), 'collective transport of a tensor-parallel group: auto (shared memory when every rank is on this host, else TCP), tcp, or shm; the same on every rank'),
  backend: field('TANDEM_BACKEND', z.enum(['cpu']).default('cpu'), 'compute backend (cpu; cuda comes with the CUDA issue)'),
  host: field('TANDEM_ENGINE_HOST', env.string().default('0.0.0.0'), 'address the engine gRPC server binds'),
  port: field('TANDEM_ENGINE_PORT', env.int({ min: 0, max: 65535 }).default(50061), 'engine gRPC port (0 = any free port)'),
  threads: field('TANDEM_THREADS', env.int({ min: 1, max: 1024 }).optional(), 'kernel threads; default all cores'),
  kvMemoryBytes: field('TANDEM_KV_MEMORY_BYTES', env.int({ min: 1 }).optional(), 'bytes for both KV pools; engine default 512 MiB'),
  blockSize: field('TANDEM_BLOCK_SIZE', env.int({ min: 1, max: 1024 }).optional(), 'KV block size in positions; engine default 16'),
  maxBatchTokens: field('TANDEM_MAX_BATCH_TOKENS', env.int({ min: 1 }).optional(), 'tokens computed per engine step; engine default 512'),
  maxRunning: field('TANDEM_MAX_RUNNING', env.int({ min: 1 }).optional(), 'sequences running at once; engine default 64'),
  maxSeqLen: field('TANDEM_MAX_SEQ_LEN', env.int({ min: 1 }).optional(), 'prompt + output limit; default the model\'s max_position_embeddings'),
  drainTimeoutMs: field('TANDEM_DRAIN_TIMEOUT_MS', env.int({ min: 0 }).default(30_000), 'longest SIGTERM drain before exiting anyway'),
  logLevel: field('TANDEM_LOG_LEVEL', z.enum(['debug', 'info', 'warn', 'error']).default('info'), 'log level'),
};

export type ShardConfig = ConfigOf<typeof SHARD_CONFIG>;

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
