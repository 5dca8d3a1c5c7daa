// startShard: binds the engine gRPC server (health NOT_SERVING), loads the model, then reports
// SERVING. drain() stops admitting (health NOT_SERVING, new Generate → UNAVAILABLE) and waits for
// running requests; close() shuts the server and frees the engine.
// Tensor parallelism (TANDEM_WORLD_SIZE > 1): this is rank 0 of the group; ranks >= 1 run
// runShardFollower (follower.ts). When the group fails (a rank died or stalled) health goes
// NOT_SERVING, work is refused, and `groupFailure` resolves so the process can exit non-zero.
import { basename, resolve } from 'node:path';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Engine, type FinishReason } from '@tandem/engine';
import { addReflection, createLogger, HealthReporter, loadConfig, type ConfigOverrides, type Logger } from '@tandem/kit';
import { EngineService as EngineServiceDefinition, PROTO_FILES, PROTO_INCLUDE_DIR, SERVICE_NAMES } from '@tandem/proto';
import { checkTensorParallel, checkWeightDtype, SHARD_CONFIG, type ShardConfig } from './config.js';
import { EngineService } from './engine-service.js';
import { kvBudgetForProcess, MIN_KV_BYTES } from './kv-budget.js';

export interface StartShardOptions extends ConfigOverrides<typeof SHARD_CONFIG> {
  /** Environment to read unset fields from; default process.env. */
  readonly env?: Record<string, string | undefined>;
  readonly logger?: Logger;
  /** Called once per Generate that reached the engine, with how it ended. */
  readonly onRequestEnd?: (requestId: string, finish: FinishReason) => void;
}

export interface Shard {
  readonly config: ShardConfig;
  /** host:port the server listens on (port resolved when 0 was asked). */
  readonly address: string;
  readonly port: number;
  /** Resolves once the model is loaded and health says SERVING; rejects when loading fails. */
  readonly ready: Promise<void>;
  readonly health: HealthReporter;
  /** Stops admitting and resolves when every running request has finished. */
  drain(): Promise<void>;
  /** Resolves (with the reason) when the tensor-parallel group failed; health is NOT_SERVING by then. Never resolves otherwise. */
  readonly groupFailure: Promise<string>;
  /** Immediate stop: cancels running requests, closes the server and frees the engine. Idempotent. */
  close(): Promise<void>;
}

/** TANDEM_KV_MEMORY_BYTES when set, else the TANDEM_KV_MEMORY_FRACTION budget (logged with its inputs), else the engine default. */
function kvMemoryBytes(config: ShardConfig, modelDir: string, logger: Logger): number | undefined {
  if (config.kvMemoryBytes !== undefined || config.kvMemoryFraction === undefined) return config.kvMemoryBytes;
  const budget = kvBudgetForProcess(config.kvMemoryFraction, modelDir, config.worldSize);
  const { bytes, ...inputs } = budget;
  const fields = { kvMemoryBytes: bytes, ...inputs };
  if (budget.clamped) logger.warn('KV budget from TANDEM_KV_MEMORY_FRACTION', { ...fields, note: `memory is too tight for the weights; using the ${MIN_KV_BYTES}-byte minimum` });
  else logger.info('KV budget from TANDEM_KV_MEMORY_FRACTION', fields);
  return bytes;
}

export async function startShard(options: StartShardOptions = {}): Promise<Shard> {
  const { env, logger: givenLogger, onRequestEnd, ...overrides } = options;
  const config = loadConfig(SHARD_CONFIG, { env, overrides });
  checkTensorParallel(config);
  if (config.rank !== 0) throw new Error(`TANDEM_RANK: startShard serves rank 0; rank ${config.rank} runs runShardFollower`);
  const modelDir = resolve(config.modelDir);
  const modelName = config.modelName ?? basename(modelDir);
  const logger = (givenLogger ?? createLogger({ component: 'shard', level: config.logLevel })).child({ model: modelName, rank: config.rank });

  const health = new HealthReporter([SERVICE_NAMES.engine]);
  let engine: Engine | undefined;
  let closed = false;
  let failed = false;
  let reportFailure: (reason: string) => void = () => {};
  const groupFailure = new Promise<string>((res) => (reportFailure = res));
  // Health first (the router stops routing here), then refuse work, then tell the owner.
  const failGroup = (reason: string) => {
    if (failed || closed) return;
    failed = true;
    health.set('NOT_SERVING');
    service.unavailable(`tensor-parallel group failed: ${reason}`);
    logger.error('tensor-parallel group failed; NOT_SERVING', { reason });
    reportFailure(reason);
  };
  const service = new EngineService({
    modelName, rank: config.rank, worldSize: config.worldSize, backend: config.backend, logger, onRequestEnd,
    onEngineUnavailable: config.worldSize > 1 ? (message) => failGroup(message) : undefined,
  });
  const server = new Server();
  server.addService(EngineServiceDefinition, service.handlers(() => health.set('NOT_SERVING')));
  health.addToServer(server);
  addReflection(server, PROTO_INCLUDE_DIR, [PROTO_FILES.engine]);

  const bindAddr = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync(bindAddr, ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
  );
  const address = `${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  logger.info('listening; loading model', { address, modelDir });

  let groupTimer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  // In the promise chain: a model folder that cannot be read fails the load, like any load error.
  const ready = Promise.resolve()
    .then(() => Engine.load({
      modelDir,
      threads: config.threads,
      kvMemoryBytes: kvMemoryBytes(config, modelDir, logger),
      blockSize: config.blockSize,
      maxBatchTokens: config.maxBatchTokens,
      maxRunning: config.maxRunning,
      maxSeqLen: config.maxSeqLen,
      ...(config.worldSize > 1 ? { rank: 0, worldSize: config.worldSize, leaderAddr: config.leaderAddr, tpTransport: config.tpTransport } : {}),
    }))
    .then(async (e) => {
      if (closed) {
        await e.close();
        return;
      }
      try {
        checkWeightDtype(config.dtype, e.info.weightDtype);
      } catch (err) {
        // Closing rank 0 ends the group, so the followers exit too.
        await e.close();
        throw err;
      }
      engine = e;
      service.attach(e);
      if (!service.isDraining) health.set('SERVING');
      if (config.worldSize > 1) {
        // The engine notices a dead rank within about a second even when idle; poll for it.
        groupTimer = setInterval(() => {
          if (e.stats().tpGroupFailed) failGroup('a rank died or stalled (engine stats tpGroupFailed)');
        }, 100);
        groupTimer.unref();
      }
      logger.info('model loaded; serving', { ms: Date.now() - t0, isa: e.info.isa, vocab: e.info.vocabSize, maxSeqLen: e.info.maxSeqLen });
    });
  ready.catch((err: unknown) => {
    service.loadFailed(err instanceof Error ? err.message : String(err));
    logger.error('model load failed', { err, modelDir });
  });

  const close = async () => {
    if (closed) return;
    closed = true;
    clearInterval(groupTimer);
    health.set('NOT_SERVING');
    service.stop();
    await service.whenIdle();
    await new Promise<void>((res) => server.tryShutdown(() => res()));
    await engine?.close();
  };

  return {
    config,
    address,
    port,
    ready,
    health,
    groupFailure,
    drain: () => {
      health.set('NOT_SERVING');
      return service.drain();
    },
    close,
  };
}
