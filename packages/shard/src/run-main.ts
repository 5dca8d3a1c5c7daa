// The shard process body, shared by `node packages/shard/src/main.ts` and `tandem shard`: config
// from the environment (SHARD_CONFIG), SIGTERM/SIGINT drain then exit 0; a failed model load exits
// 1 (the process is not ready and never will be). With TANDEM_WORLD_SIZE > 1, ranks >= 1 run the
// follower loop, and rank 0 exits 1 (after reporting NOT_SERVING) when the group fails.
import { createLogger, installShutdown, loadConfig, TandemError } from '@tandem/kit';
import { checkTensorParallel, SHARD_CONFIG } from './config.js';
import { runShardFollower } from './follower.js';
import { startShard } from './shard.js';

/** How long rank 0 keeps answering health (NOT_SERVING) after its group failed, so watchers see it. */
const FAILED_LINGER_MS = 500;

export async function runShardMain(): Promise<void> {
  const logger = createLogger({ component: 'shard' });
  try {
    const config = loadConfig(SHARD_CONFIG, {});
    checkTensorParallel(config);
    if (config.rank >= 1) {
      process.exit(await runShardFollower(config, createLogger({ component: 'shard', level: config.logLevel })));
    }
    const shard = await startShard();
    installShutdown({
      logger,
      timeoutMs: shard.config.drainTimeoutMs,
      drain: async () => {
        await shard.drain();
        await shard.close();
      },
    });
    void shard.groupFailure.then(() => {
      // The engine cannot serve again without its group; the supervisor restarts the replica.
      setTimeout(() => process.exit(1), FAILED_LINGER_MS);
    });
    await shard.ready;
  } catch (err) {
    // A configuration error's message only counts the problems: log each ("TANDEM_X: why"), last and
    // without the stack, so the record stays short enough to become the pod's termination message.
    if (err instanceof TandemError && err.issues.length > 0) logger.error('shard failed to start', { error: err.message, issues: err.issues });
    else logger.error('shard failed to start', { err });
    process.exit(1);
  }
}
