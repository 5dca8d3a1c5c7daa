// @tandem/shard: the process serving tandem.engine.v1 for rank 0 of a replica (ranks >= 1: runShardFollower).
export { startShard, type Shard, type StartShardOptions } from './shard.js';
export { checkTensorParallel, checkWeightDtype, SHARD_CONFIG, type ShardConfig } from './config.js';
export { computeKvBudget, MIN_KV_BYTES, type KvBudget, type KvBudgetInputs } from './kv-budget.js';
export { validateGenerate, type ValidGenerate } from './validate.js';
export { runShardMain } from './run-main.js';
export { runShardFollower } from './follower.js';
