// One logical call = attempts with bounded, jittered retry of UNAVAILABLE before the first message,
// one absolute deadline over all attempts, and an AbortSignal that cancels whichever attempt runs.
import { Metadata, status, type CallOptions, type ClientReadableStream, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { TandemClientError, toClientError } from './errors.js';
import type { Context } from '@opentelemetry/api';
import { injectTrace } from './trace.js';

export interface RetryPolicy {
  /** Attempts in all, the first included; default 3. */
  readonly maxAttempts?: number;
  /** First backoff ceiling; default 100 ms, doubling each retry. */
  readonly initialBackoffMs?: number;
  /** Largest backoff ceiling; default 2 s. */
  readonly maxBackoffMs?: number;
}

export interface RequestOptions {
  /** Aborting cancels the call (the server cancels the engine request and frees its KV). */
  readonly signal?: AbortSignal;
  /** Overrides the client's deadline for this call. */
  readonly deadlineMs?: number;
  /** Extra metadata (ASCII values). */
  readonly metadata?: Record<string, string>;
}

/** RequestOptions plus the trace context captured when the call was made. */
export interface RunOptions extends RequestOptions {
  readonly traceContext?: Context;
}

export interface CallContext {
  readonly apiKey?: string;
  readonly deadlineMs?: number;
  readonly retry: Required<RetryPolicy>;
  /** For tests: the random source for jitter. */
  readonly random?: () => number;
}

function cancelled(signal: AbortSignal): TandemClientError {
  return new TandemClientError(status.CANCELLED, 'request cancelled by the caller', [], undefined, { cause: signal.reason });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(cancelled(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class CallRunner {
  constructor(private readonly ctx: CallContext) {}

  private metadata(opts: RunOptions): Metadata {
    const md = new Metadata();
    for (const [k, v] of Object.entries(opts.metadata ?? {})) md.set(k, v);
    if (this.ctx.apiKey !== undefined) md.set('authorization', `Bearer ${this.ctx.apiKey}`);
    injectTrace(md, opts.traceContext);
    return md;
  }

  private deadline(opts: RequestOptions): number | undefined {
    const ms = opts.deadlineMs ?? this.ctx.deadlineMs;
    return ms === undefined ? undefined : Date.now() + ms;
  }

  /** Whether to retry after `err` on attempt `attempt`; waits the jittered backoff when so. */
  private async backoff(err: TandemClientError, attempt: number, deadline: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
    if (err.code !== status.UNAVAILABLE || attempt >= this.ctx.retry.maxAttempts) return false;
    const ceiling = Math.min(this.ctx.retry.maxBackoffMs, this.ctx.retry.initialBackoffMs * 2 ** (attempt - 1));
    const hinted = err.retryAfterSeconds !== undefined ? Math.min(err.retryAfterSeconds * 1000, this.ctx.retry.maxBackoffMs) : 0;
    const wait = Math.max(hinted, Math.floor((this.ctx.random ?? Math.random)() * ceiling)); // full jitter
    if (deadline !== undefined && Date.now() + wait >= deadline) return false;
    await sleep(wait, signal);
    return true;
  }

  async *stream<T>(start: (md: Metadata, options: Partial<CallOptions>) => ClientReadableStream<T>, opts: RunOptions = {}): AsyncGenerator<T> {
    const { signal } = opts;
    const deadline = this.deadline(opts);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(signal);
      const call = start(this.metadata(opts), deadline === undefined ? {} : { deadline });
      const onAbort = () => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      let received = false;
      try {
        for await (const msg of call as AsyncIterable<T>) {
          received = true;
          yield msg;
        }
        return;
      } catch (e) {
        if (signal?.aborted) throw cancelled(signal);
        const err = toClientError(e);
        if (received || !(await this.backoff(err, attempt, deadline, signal))) throw err;
      } finally {
        signal?.removeEventListener('abort', onAbort);
        call.cancel(); // no-op after a normal end; stops the server when the caller left early
      }
    }
  }

  async unary<Req, Res>(
    fn: (req: Req, md: Metadata, options: Partial<CallOptions>, cb: (e: ServiceError | null, r: Res) => void) => ClientUnaryCall,
    req: Req,
    opts: RunOptions = {},
  ): Promise<Res> {
    const { signal } = opts;
    const deadline = this.deadline(opts);
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw cancelled(signal);
      try {
        return await new Promise<Res>((resolve, reject) => {
          const call = fn(req, this.metadata(opts), deadline === undefined ? {} : { deadline }, (e, r) => {
            signal?.removeEventListener('abort', onAbort);
            if (e) reject(e);
            else resolve(r);
          });
          const onAbort = () => call.cancel();
          signal?.addEventListener('abort', onAbort, { once: true });
        });
      } catch (e) {
        if (signal?.aborted) throw cancelled(signal);
        const err = toClientError(e);
        if (!(await this.backoff(err, attempt, deadline, signal))) throw err;
      }
    }
  }
}
