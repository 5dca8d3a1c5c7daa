// The environment variables the shard process reads (packages/shard SHARD_CONFIG), listed here so
// the operator, which may not import the shard (it would pull in the native engine), can check that
// every TANDEM_* variable it renders into a shard pod is one the shard actually reads. Both sides
// test against this list: the shard that it equals SHARD_CONFIG's names, the operator that its pods
// use no other name. A variable the shard does not know would be silently ignored.
export const SHARD_ENV_NAMES = [
  'TANDEM_MODEL_DIR',
  'TANDEM_MODEL_NAME',
  'TANDEM_MODEL_MERGE',
  'TANDEM_RANK',
  'TANDEM_WORLD_SIZE',
  'TANDEM_RANKS_PER_POD',
  'TANDEM_LEADER_ADDR',
  'TANDEM_TP_TRANSPORT',
  'TANDEM_BACKEND',
  'TANDEM_DTYPE',
  'TANDEM_ENGINE_HOST',
  'TANDEM_ENGINE_PORT',
  'TANDEM_THREADS',
  'TANDEM_KV_MEMORY_BYTES',
  'TANDEM_KV_MEMORY_FRACTION',
  'TANDEM_PREFIX_CACHING',
  'TANDEM_BLOCK_SIZE',
  'TANDEM_MAX_BATCH_TOKENS',
  'TANDEM_MAX_RUNNING',
  'TANDEM_MAX_SEQ_LEN',
  'TANDEM_DRAIN_TIMEOUT_MS',
  'TANDEM_LOG_LEVEL',
] as const;
export type ShardEnvName = (typeof SHARD_ENV_NAMES)[number];
