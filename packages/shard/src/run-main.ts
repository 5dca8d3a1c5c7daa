// The shard process body, shared by `node packages/shard/src/main.ts` and `tandem shard`: config
// from the environment (SHARD_CONFIG), SIGTERM/SIGINT drain then exit 0; a failed model load exits
// 1 (the process is not ready and never will be).
import { createLogger, installShutdown } from '@tandem/kit';
import { startShard } from './shard.js';

export async function runShardMain(): Promise<void> {
  const logger = createLogger({ component: 'shard' });
  try {
    const shard = await startShard();
    installShutdown({
      logger,
      timeoutMs: shard.config.drainTimeoutMs,
      drain: async () => {
        await shard.drain();
        await shard.close();
      },
    });
    await shard.ready;
  } catch (err) {
    logger.error('shard failed to start', { err });
    process.exit(1);
  }
}
