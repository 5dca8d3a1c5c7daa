// A scripted tandem.engine.v1 server for router unit tests — a test double, on purpose: the router's
// own logic (failover at an exact token, a replica dying mid-stream, queue limits) needs an engine
// that fails on cue, which the real one cannot do deterministically. It streams the token ids of a
// fixed reply in small batches, can fail on demand, and counts open streams so tests can see that
// cancelling a client cancels the engine call. The real engine and shard processes are exercised
// end to end by test/e2e.
import { Server, ServerCredentials, status, type ServerWritableStream } from '@grpc/grpc-js';
import { EngineService, engineV1 } from '@tandem/proto';

export interface FakeEngineOptions {
  /** Token ids of the reply (the fake appends nothing). */
  readonly reply: readonly number[];
  readonly batch?: number;
  readonly delayMs?: number;
  readonly maxSeqLen?: number;
  readonly blockSize?: number;
  /** Full-attention KV blocks (default 10,000). */
  readonly kvBlocks?: number;
  /** Fail Generate before any token with this gRPC status. */
  failBeforeFirst?: status;
  /** Break the stream (UNAVAILABLE) after this many batches. */
  failAfterBatches?: number;
}

export class FakeEngine {
  readonly server = new Server();
  port = 0;
  active = 0;
  generated = 0;
  readonly requests: engineV1.GenerateRequest[] = [];
  /** traceparent of each Generate call ('' when none). */
  readonly traceparents: string[] = [];

  constructor(readonly options: FakeEngineOptions) {
    this.server.addService(EngineService, {
      generate: (call: ServerWritableStream<engineV1.GenerateRequest, engineV1.GenerateResponse>) => void this.generate(call),
      cancel: (_c: unknown, cb: (e: null, r: engineV1.CancelResponse) => void) => cb(null, { cancelled: false }),
      stats: (_c: unknown, cb: (e: null, r: engineV1.StatsResponse) => void) =>
        cb(null, engineV1.StatsResponse.fromPartial({ running: this.active, activeStreams: this.active, kvPools: [{ name: 'full', blocksUsed: this.active, blocksTotal: options.kvBlocks ?? 10_000 }] })),
      info: (_c: unknown, cb: (e: null, r: engineV1.InfoResponse) => void) =>
        cb(null, engineV1.InfoResponse.fromPartial({ model: 'fake', blockSize: options.blockSize ?? 16, maxSeqLen: options.maxSeqLen ?? 4096, maxRunning: 8, fullBlocksTotal: options.kvBlocks ?? 10_000, tensorParallel: 1 })),
      drain: (_c: unknown, cb: (e: null, r: engineV1.DrainResponse) => void) => cb(null, { running: this.active }),
    });
  }

  async start(): Promise<string> {
    this.port = await new Promise<number>((res, rej) => this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    return `127.0.0.1:${this.port}`;
  }

  private async generate(call: ServerWritableStream<engineV1.GenerateRequest, engineV1.GenerateResponse>): Promise<void> {
    this.requests.push(call.request);
    this.traceparents.push(String(call.metadata.get('traceparent')[0] ?? ''));
    if (this.options.failBeforeFirst !== undefined) {
      call.emit('error', { code: this.options.failBeforeFirst, details: 'scripted failure' });
      return;
    }
    this.active++;
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    try {
      const reply = this.options.reply.slice(0, call.request.maxTokens);
      const batch = this.options.batch ?? 2;
      for (let i = 0, b = 0; i < reply.length; i += batch, b++) {
        if (this.options.failAfterBatches !== undefined && b >= this.options.failAfterBatches) {
          call.emit('error', { code: status.UNAVAILABLE, details: 'scripted crash' });
          return;
        }
        await new Promise((r) => setTimeout(r, this.options.delayMs ?? 1));
        if (cancelled) return;
        const ids = reply.slice(i, i + batch);
        this.generated += ids.length;
        const last = i + batch >= reply.length;
        const finish = !last ? 0 : reply.length < this.options.reply.length ? engineV1.FinishReason.FINISH_REASON_LENGTH : engineV1.FinishReason.FINISH_REASON_STOP;
        call.write(engineV1.GenerateResponse.fromPartial({ tokenIds: ids, finishReason: finish, ...(last ? { usage: { promptTokens: call.request.prompt.length, completionTokens: reply.length } } : {}) }));
      }
      call.end();
    } finally {
      this.active--;
    }
  }

  async stop(): Promise<void> {
    this.server.forceShutdown();
  }
}
