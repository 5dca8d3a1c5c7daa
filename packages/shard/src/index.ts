// @tandem/shard: the process serving tandem.engine.v1 for one rank (rank 0 for now).
export { startShard, type Shard, type StartShardOptions } from './shard.js';
export { SHARD_CONFIG, type ShardConfig } from './config.js';
export { validateGenerate, type ValidGenerate } from './validate.js';
export { runShardMain } from './run-main.js';
