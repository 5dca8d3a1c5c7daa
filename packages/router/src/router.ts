// startRouter: the router process's composition — engines pool, tokenizer, auth, metrics, and the
// HTTP and gRPC edges on one process. Returns the bound ports and a close() that stops everything.
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChatTokenizer } from '@tandem/chat';
import { SERVICE_NAMES } from '@tandem/proto';
import { ApiKeyStore } from './auth.js';
import type { ChatServiceDeps } from './chat-service.js';
import type { EngineConnection } from './engine-client.js';
import { type HostResolver, serviceDiscovery } from './engine-discovery.js';
import { startGrpcServer } from './grpc-server.js';
import { createHttpServer } from './http-server.js';
import { jsonLogger, type Logger } from './log.js';
import { RouterMetrics } from './metrics.js';
import { parseRouterOptions, type RouterOptions, type RouterOptionsInput } from './options.js';
import { PrefixIndex } from './prefix-affinity.js';
import { RateLimiter } from './rate-limit.js';
import { ReplicaPool } from './replica-pool.js';
import type { RouterContext } from './router-context.js';

export interface RunningRouter {
  readonly options: RouterOptions;
  readonly httpPort: number;
  readonly grpcPort: number;
  /** http://host:port */
  readonly httpUrl: string;
  /** host:port */
  readonly grpcAddress: string;
  readonly pool: ReplicaPool;
  readonly metrics: RouterMetrics;
  /** Resolves once some replica is ready (or rejects after timeoutMs). */
  waitReady(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface StartRouterExtras {
  readonly log?: Logger;
  /** Test hook: engine connections other than gRPC. */
  readonly connect?: (address: string) => EngineConnection;
  /** Test hook: how engineService's name is resolved (default DNS). */
  readonly resolve?: HostResolver;
  /** Environment for fields not given in code (main.ts passes process.env; default none). */
  readonly env?: Record<string, string | undefined>;
}

function stopTokens(tok: ChatTokenizer): number[] {
  const ids = new Set<number>();
  for (const t of ['<|END_OF_TURN_TOKEN|>', tok.eosToken]) {
    const id = t !== undefined ? tok.specialTokens.get(t) ?? tok.tokenId(t) : undefined;
    if (id !== undefined) ids.add(id);
  }
  return [...ids];
}

export async function startRouter(input: RouterOptionsInput, extras: StartRouterExtras = {}): Promise<RunningRouter> {
  const options = parseRouterOptions(input, extras.env);
  const log = extras.log ?? jsonLogger('router', options.logLevel);
  const keys = options.apiKeysFile ? await ApiKeyStore.fromFile(options.apiKeysFile) : options.apiKeysJson ? ApiKeyStore.parse(options.apiKeysJson, 'TANDEM_API_KEYS') : new ApiKeyStore([]);
  const tokenizer = await ChatTokenizer.fromDir(options.modelDir);
  const metrics = new RouterMetrics({ defaultMetrics: true });
  const prefixIndex = new PrefixIndex();
  const pool = new ReplicaPool({
    ...(options.engines !== undefined ? { addresses: options.engines } : { discover: serviceDiscovery(options.engineService!, extras.resolve) }),
    pollIntervalMs: options.pollIntervalMs, maxQueued: options.maxQueued,
    ...(options.maxQueuedPerTenant !== undefined ? { maxQueuedPerTenant: options.maxQueuedPerTenant } : {}),
    maxQueueWaitMs: options.maxQueueWaitMs, tenantWeight: (t) => keys.tenantWeight(t), metrics, prefixIndex, log,
    ...(extras.connect ? { connect: extras.connect } : {}),
  });
  const chat: ChatServiceDeps = {
    tokenizer, pool, prefixIndex, rateLimiter: new RateLimiter(), metrics, log, stopTokenIds: stopTokens(tokenizer),
    expectedOutputTokens: options.expectedOutputTokens, maxRetries: options.maxRetries,
  };
  const ctx: RouterContext = { options, pool, keys, metrics, log, chat, createdAt: Math.floor(Date.now() / 1000) };

  const http: HttpServer = createHttpServer(ctx);
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.httpPort, options.host, () => resolve());
  });
  const httpPort = (http.address() as AddressInfo).port;
  let grpc;
  try {
    grpc = await startGrpcServer(ctx, options.host, options.grpcPort);
  } catch (e) {
    http.close();
    pool.close();
    throw e;
  }
  // Health follows readiness (some replica can serve).
  let lastReady: boolean | undefined;
  const healthTimer = setInterval(() => {
    const ready = pool.ready();
    if (ready === lastReady) return;
    lastReady = ready;
    const s = ready ? 'SERVING' : 'NOT_SERVING';
    grpc.health.setStatus('', s);
    grpc.health.setStatus(SERVICE_NAMES.tandem, s);
  }, 100);
  healthTimer.unref();
  const host = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  log('info', 'router listening', { http: `${host}:${httpPort}`, grpc: `${host}:${grpc.port}`, engines: options.engines ?? `dns ${options.engineService}`, model: options.modelName, auth: keys.enabled });

  return {
    options, httpPort, grpcPort: grpc.port, httpUrl: `http://${host}:${httpPort}`, grpcAddress: `${host}:${grpc.port}`, pool, metrics,
    async waitReady(timeoutMs = 60_000) {
      const until = Date.now() + timeoutMs;
      while (!pool.ready()) {
        if (Date.now() > until) throw new Error(`no engine became ready within ${timeoutMs} ms (engines: ${options.engines?.join(', ') ?? `resolved from ${options.engineService}: ${pool.members.map((r) => r.address).join(', ') || 'none'}`})`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      clearInterval(healthTimer);
      pool.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
      await new Promise<void>((r) => grpc.server.tryShutdown(() => r()));
      grpc.server.forceShutdown();
    },
  };
}
