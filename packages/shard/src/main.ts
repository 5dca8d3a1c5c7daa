// The shard process entry point (see run-main.ts).
import { runShardMain } from './run-main.js';

await runShardMain();
