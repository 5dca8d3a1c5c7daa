// A follower rank (TANDEM_RANK >= 1) of a tensor-parallel replica: no gRPC engine service (rank 0
// owns scheduling and serving); it loads its weight slices, joins rank 0 at TANDEM_LEADER_ADDR and
// runs the steps rank 0 broadcasts until rank 0 closes the group.
import { resolve } from 'node:path';
import { runFollower } from '@tandem/engine';
import type { Logger } from '@tandem/kit';
import { checkTensorParallel, type ShardConfig } from './config.js';

/** Runs this follower rank; returns the process exit code: 0 when rank 0 closed the group, 1 when the group failed. */
export async function runShardFollower(config: ShardConfig, logger: Logger): Promise<number> {
  checkTensorParallel(config);
  if (config.rank === 0) throw new Error('TANDEM_RANK: rank 0 serves the engine (startShard); runShardFollower is for ranks >= 1');
  const leaderAddr = config.leaderAddr!; // checkTensorParallel: required for a group
  const log = logger.child({ rank: config.rank });
  log.info('follower joining the tensor-parallel group', { leaderAddr, worldSize: config.worldSize, tpTransport: config.tpTransport });
  try {
    await runFollower({
      modelDir: resolve(config.modelDir), threads: config.threads, rank: config.rank, worldSize: config.worldSize, leaderAddr,
      tpTransport: config.tpTransport,
    });
    log.info('rank 0 closed the group; exiting');
    return 0;
  } catch (err) {
    log.error('tensor-parallel group failed', { err });
    return 1;
  }
}
