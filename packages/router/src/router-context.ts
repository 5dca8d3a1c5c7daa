// Everything a request handler needs, built once by startRouter.
import type { ApiKeyStore } from './auth.js';
import type { ChatServiceDeps } from './chat-service.js';
import type { Logger } from './log.js';
import type { RouterMetrics } from './metrics.js';
import type { RouterOptions } from './options.js';
import type { ReplicaPool } from './replica-pool.js';

export interface RouterContext {
  readonly options: RouterOptions;
  readonly pool: ReplicaPool;
  readonly keys: ApiKeyStore;
  readonly metrics: RouterMetrics;
  readonly log: Logger;
  readonly chat: ChatServiceDeps;
  /** Unix seconds the router started (models' `created`). */
  readonly createdAt: number;
}
