// The router's view of one engine (rank 0 of a replica): a thin promise / async-iterator face over
// the generated tandem.engine.v1 client. Cancelling the stream cancels the gRPC call, which the
// shard turns into an engine Cancel (KV blocks freed). Deadlines ride on the gRPC deadline.
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { EngineGrpcClient, engineV1 } from '@tandem/proto';

export type EngineGenerateRequest = engineV1.GenerateRequest;
export type EngineGenerateResponse = engineV1.GenerateResponse;
export type EngineStats = engineV1.StatsResponse;
export type EngineInfo = engineV1.InfoResponse;

export interface GenerateCallOptions {
  /** Absolute deadline (ms since epoch). */
  readonly deadline?: number;
  readonly signal?: AbortSignal;
  /** Extra metadata (trace context, request id). */
  readonly metadata?: Record<string, string>;
}

/** What the router needs from an engine; tests substitute fakes. */
export interface EngineConnection {
  readonly address: string;
  generate(req: EngineGenerateRequest, options: GenerateCallOptions): AsyncIterable<EngineGenerateResponse>;
  stats(timeoutMs: number): Promise<EngineStats>;
  info(timeoutMs: number): Promise<EngineInfo>;
  close(): void;
}

function unary<Req, Res>(
  fn: (req: Req, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r: Res) => void) => unknown,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn(req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

export class GrpcEngineConnection implements EngineConnection {
  private readonly client: engineV1.EngineClient;

  constructor(readonly address: string) {
    this.client = new EngineGrpcClient(address, credentials.createInsecure(), {
      // Reconnect fast after a shard restarts; the poller marks it unhealthy meanwhile.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    });
  }

  async *generate(req: EngineGenerateRequest, options: GenerateCallOptions): AsyncIterable<EngineGenerateResponse> {
    const md = new Metadata();
    for (const [k, v] of Object.entries(options.metadata ?? {})) md.set(k, v);
    const call = this.client.generate(req, md, options.deadline !== undefined ? { deadline: options.deadline } : {});
    const onAbort = () => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const msg of call as AsyncIterable<EngineGenerateResponse>) yield msg;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      call.cancel(); // no-op when the call already ended; frees the engine request when we stop early
    }
  }

  stats(timeoutMs: number): Promise<EngineStats> {
    return unary(this.client.stats.bind(this.client) as never, engineV1.StatsRequest.fromPartial({}), timeoutMs);
  }

  info(timeoutMs: number): Promise<EngineInfo> {
    return unary(this.client.info.bind(this.client) as never, engineV1.InfoRequest.fromPartial({}), timeoutMs);
  }

  close(): void {
    this.client.close();
  }
}
