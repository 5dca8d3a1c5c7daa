// The shard process: config from the environment, SIGTERM/SIGINT drain then exit 0; a failed model
// load exits 1 (the process is not ready and never will be).
import { createLogger, installShutdown } from '@tandem/kit';
import { startShard } from './shard.js';

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
