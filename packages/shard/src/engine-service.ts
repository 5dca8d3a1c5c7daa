// tandem.engine.v1.Engine over one loaded @tandem/engine. Generate streams the engine's token
// batches; a client cancel or deadline cancels the engine request (its KV blocks are freed). While
// draining, new Generate calls get UNAVAILABLE and running ones finish.
import { status as GrpcCode, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { EngineError, type Engine, type FinishReason, type Generation, type TokenEvent } from '@tandem/engine';
import { trace } from '@opentelemetry/api';
import { extractTraceContext, TandemError, type Logger } from '@tandem/kit';
import { engineV1, type EngineServer } from '@tandem/proto';
import { validateGenerate } from './validate.js';

const FINISH: Record<FinishReason, engineV1.FinishReason> = {
  length: engineV1.FinishReason.FINISH_REASON_LENGTH,
  stop: engineV1.FinishReason.FINISH_REASON_STOP,
  cancelled: engineV1.FinishReason.FINISH_REASON_CANCELLED,
  error: engineV1.FinishReason.FINISH_REASON_ERROR,
};

export interface EngineServiceOptions {
  readonly modelName: string;
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: string;
  readonly logger: Logger;
  /** Called once per Generate that reached the engine, with how it ended (tests, metrics). */
  readonly onRequestEnd?: (requestId: string, finish: FinishReason) => void;
  /** Called when the engine fails a request with UNAVAILABLE (a tensor-parallel group failure). */
  readonly onEngineUnavailable?: (message: string) => void;
}

/** Generated tokens per second over a sliding window of ~5 one-second samples. */
class ThroughputMeter {
  private readonly samples: { t: number; n: number }[] = [];
  record(total: number, now = Date.now()): void {
    this.samples.push({ t: now, n: total });
    while (this.samples.length > 6) this.samples.shift();
  }
  rate(): number {
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    if (!a || !b || b.t <= a.t) return 0;
    return ((b.n - a.n) * 1000) / (b.t - a.t);
  }
}

function toResponse(ev: TokenEvent): engineV1.GenerateResponse {
  return {
    tokenIds: ev.tokens,
    logprobs: ev.logprobs,
    top: ev.top.map((t) => ({ tokenIds: t.ids, logprobs: t.logprobs })),
    finishReason: ev.finish ? FINISH[ev.finish] : engineV1.FinishReason.FINISH_REASON_UNSPECIFIED,
    usage: ev.finish ? { promptTokens: ev.promptTokens, completionTokens: ev.completionTokens } : undefined,
    error: ev.finish === 'error' ? (ev.error ?? 'engine error') : '',
  };
}

export class EngineService {
  private engine: Engine | undefined;
  private draining = false;
  private readonly running = new Map<string, Generation>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly meter = new ThroughputMeter();
  private readonly meterTimer: NodeJS.Timeout;
  private nextId = 0;
  private loadError: string | undefined;
  private unavailableReason: string | undefined;

  constructor(private readonly options: EngineServiceOptions) {
    this.meterTimer = setInterval(() => this.engine && this.meter.record(this.engine.stats().generatedTokensTotal), 1000);
    this.meterTimer.unref();
  }

  /** The engine is loaded: start admitting. */
  attach(engine: Engine): void {
    this.engine = engine;
    this.meter.record(engine.stats().generatedTokensTotal);
  }

  /** Loading failed: the shard stays NOT_SERVING and refuses work with this reason. */
  loadFailed(reason: string): void {
    this.loadError = reason;
  }

  /** The engine can no longer serve (its tensor-parallel group failed): refuse work, cancel running requests. */
  unavailable(reason: string): void {
    this.unavailableReason = reason;
    for (const g of this.running.values()) g.cancel();
  }

  get activeStreams(): number {
    return this.running.size;
  }
  get isDraining(): boolean {
    return this.draining;
  }

  /** Stops admitting; resolves when every running request has finished. */
  drain(): Promise<void> {
    this.draining = true;
    return this.whenIdle();
  }

  whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    clearInterval(this.meterTimer);
    for (const g of this.running.values()) g.cancel();
  }

  private admitted(): Engine {
    if (this.draining) throw new TandemError(GrpcCode.UNAVAILABLE, 'shard is draining; retry on another replica', { retryAfterSeconds: 1 });
    if (this.unavailableReason !== undefined) throw new TandemError(GrpcCode.UNAVAILABLE, this.unavailableReason);
    if (this.loadError !== undefined) throw new TandemError(GrpcCode.UNAVAILABLE, `model failed to load: ${this.loadError}`);
    if (!this.engine) throw new TandemError(GrpcCode.UNAVAILABLE, 'model is still loading', { retryAfterSeconds: 1 });
    return this.engine;
  }

  private groupFailed(engine: Engine): boolean {
    return this.options.worldSize > 1 && (this.unavailableReason !== undefined || engine.stats().tpGroupFailed);
  }

  private fail(e: unknown, ctx: Record<string, unknown>): TandemError {
    if (e instanceof EngineError && e.code === 'UNAVAILABLE') this.options.onEngineUnavailable?.(e.message);
    const err = TandemError.from(e);
    const level = err.code === GrpcCode.INTERNAL ? 'error' : 'info';
    this.options.logger.log(level, 'request failed', { ...ctx, code: err.codeName, err: err.cause ?? err });
    return err;
  }

  async generate(call: ServerWritableStream<engineV1.GenerateRequest, engineV1.GenerateResponse>): Promise<void> {
    let gen: Generation | undefined;
    let id = '';
    let ended = false; // grpc-js emits 'cancelled' after a normal end() too
    // The router's trace context rides in the metadata; logs carry its trace id.
    const traceId = trace.getSpanContext(extractTraceContext(call.metadata))?.traceId;
    call.on('cancelled', () => {
      if (!ended) gen?.cancel();
    });
    try {
      const engine = this.admitted();
      const checked = validateGenerate(call.request, engine.info);
      if (!checked.ok) throw TandemError.invalidArgument('generate request', checked.issues);
      id = checked.value.requestId || `shard-${++this.nextId}`;
      if (this.running.has(id)) throw new TandemError(GrpcCode.ALREADY_EXISTS, `request_id "${id}" is already running`);
      gen = engine.generate(checked.value.engine);
      this.running.set(id, gen);
      if (call.cancelled) gen.cancel();
      let finish: FinishReason | undefined;
      for await (const ev of gen) {
        // A failed tensor-parallel group ends running requests with an error (or a cancel from
        // unavailable()): that is the replica going away, so the router must see UNAVAILABLE (and
        // retry a request that has no tokens yet), not a finished request.
        if ((ev.finish === 'error' || ev.finish === 'cancelled') && this.groupFailed(engine)) {
          throw new TandemError(GrpcCode.UNAVAILABLE, this.unavailableReason ?? `tensor-parallel group failed: ${ev.error ?? 'a rank died or stalled'}`);
        }
        if (ev.finish) finish = ev.finish;
        if (!call.cancelled) call.write(toResponse(ev));
      }
      this.options.onRequestEnd?.(id, finish ?? 'cancelled');
      this.options.logger.debug('request finished', { requestId: id, traceId, finish });
      ended = true;
      if (!call.cancelled) call.end();
    } catch (e) {
      ended = true;
      const err = this.fail(e, { requestId: id, traceId });
      // grpc-js sends a server stream's error status on 'error' (destroy() would send none).
      if (!call.cancelled) call.emit('error', Object.assign(new Error(err.message), err.toGrpc()));
    } finally {
      if (gen && this.running.get(id) === gen) this.running.delete(id);
      if (this.running.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  cancel(call: ServerUnaryCall<engineV1.CancelRequest, engineV1.CancelResponse>, cb: sendUnaryData<engineV1.CancelResponse>): void {
    const g = this.running.get(call.request.requestId);
    if (g) g.cancel();
    cb(null, { cancelled: g !== undefined });
  }

  stats(_call: ServerUnaryCall<engineV1.StatsRequest, engineV1.StatsResponse>, cb: sendUnaryData<engineV1.StatsResponse>): void {
    if (!this.engine) return cb(Object.assign(new Error('model is still loading'), new TandemError(GrpcCode.UNAVAILABLE, 'model is still loading').toGrpc()));
    // After a group failure the process lingers briefly as NOT_SERVING; a stats poll in that window
    // must not look healthy.
    if (this.unavailableReason !== undefined) {
      const err = new TandemError(GrpcCode.UNAVAILABLE, this.unavailableReason);
      return cb(Object.assign(new Error(err.message), err.toGrpc()));
    }
    const s = this.engine.stats();
    cb(null, {
      waiting: s.waiting,
      running: s.running,
      kvPools: [
        { name: 'sliding', blocksUsed: s.slidingBlocksUsed, blocksTotal: s.slidingBlocksTotal },
        { name: 'full', blocksUsed: s.fullBlocksUsed, blocksTotal: s.fullBlocksTotal },
      ],
      tokensPerSecond: this.meter.rate(),
      steps: s.steps,
      preemptions: s.preemptions,
      promptTokensTotal: s.promptTokensTotal,
      generatedTokensTotal: s.generatedTokensTotal,
      draining: this.draining,
      activeStreams: this.running.size,
    });
  }

  info(_call: ServerUnaryCall<engineV1.InfoRequest, engineV1.InfoResponse>, cb: sendUnaryData<engineV1.InfoResponse>): void {
    if (!this.engine) return cb(Object.assign(new Error('model is still loading'), new TandemError(GrpcCode.UNAVAILABLE, 'model is still loading').toGrpc()));
    const i = this.engine.info;
    cb(null, {
      model: this.options.modelName,
      tensorParallel: this.options.worldSize,
      rank: this.options.rank,
      dtype: i.weightDtype,
      blockSize: i.blockSize,
      vocabSize: i.vocabSize,
      maxSeqLen: i.maxSeqLen,
      maxBatchTokens: i.maxBatchTokens,
      maxRunning: i.maxRunning,
      bosTokenId: i.bosTokenId,
      eosTokenId: i.eosTokenId,
      slidingWindow: i.slidingWindow,
      slidingBlocksTotal: i.slidingBlocksTotal,
      fullBlocksTotal: i.fullBlocksTotal,
      backend: this.options.backend,
      isa: i.isa,
    });
  }

  /** The grpc-js handler table. `onDrain` lets the owner flip health when Drain is called. */
  handlers(onDrain: () => void): EngineServer {
    return {
      generate: (call) => void this.generate(call),
      cancel: (call, cb) => this.cancel(call, cb),
      stats: (call, cb) => this.stats(call, cb),
      info: (call, cb) => this.info(call, cb),
      drain: (call, cb) => {
        onDrain();
        const done = this.drain();
        const reply = () => cb(null, { running: this.running.size });
        if (call.request.wait) void done.then(reply);
        else reply();
      },
    };
  }
}
