// TandemError: the one error type services throw and convert at their edge (connect-es style): a
// gRPC code, a message safe to send, details (every validation issue with its path, a retry hint),
// and a cause that is logged but never sent. `toGrpc()` and `httpStatus` are the ONE mapping from
// codes to gRPC status and HTTP status.
import { Metadata, status as GrpcCode, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { zodIssueLines } from '@tandem/schemas';
import { ZodError } from 'zod';

export { GrpcCode };

export type GrpcCodeName = keyof typeof GrpcCode;

export interface TandemErrorDetails {
  /** Every problem, each "path: message" (INVALID_ARGUMENT). */
  readonly issues?: readonly string[];
  /** Seconds to wait before retrying (RESOURCE_EXHAUSTED, UNAVAILABLE). */
  readonly retryAfterSeconds?: number;
}

export interface TandemErrorOptions extends TandemErrorDetails {
  /** The underlying error: logged, never sent to a client. */
  readonly cause?: unknown;
}

/** Trailer metadata keys carrying details next to grpc-status (the SDK reads them). */
export const ISSUES_METADATA_KEY = 'tandem-issues-bin';
export const RETRY_AFTER_METADATA_KEY = 'retry-after';

const HTTP_STATUS: Record<GrpcCode, number> = {
  [GrpcCode.OK]: 200,
  [GrpcCode.CANCELLED]: 499,
  [GrpcCode.UNKNOWN]: 500,
  [GrpcCode.INVALID_ARGUMENT]: 400,
  [GrpcCode.DEADLINE_EXCEEDED]: 504,
  [GrpcCode.NOT_FOUND]: 404,
  [GrpcCode.ALREADY_EXISTS]: 409,
  [GrpcCode.PERMISSION_DENIED]: 403,
  [GrpcCode.RESOURCE_EXHAUSTED]: 429,
  [GrpcCode.FAILED_PRECONDITION]: 400,
  [GrpcCode.ABORTED]: 409,
  [GrpcCode.OUT_OF_RANGE]: 400,
  [GrpcCode.UNIMPLEMENTED]: 501,
  [GrpcCode.INTERNAL]: 500,
  [GrpcCode.UNAVAILABLE]: 503,
  [GrpcCode.DATA_LOSS]: 500,
  [GrpcCode.UNAUTHENTICATED]: 401,
};

/** The engine binding's codes (EngineError.code) → gRPC; messages of these kinds are safe to send. */
const ENGINE_CODES: Record<string, GrpcCode> = {
  INVALID_ARGUMENT: GrpcCode.INVALID_ARGUMENT,
  NOT_FOUND: GrpcCode.NOT_FOUND,
  RESOURCE_EXHAUSTED: GrpcCode.RESOURCE_EXHAUSTED,
  CANCELLED: GrpcCode.CANCELLED,
  UNSUPPORTED: GrpcCode.UNIMPLEMENTED,
  MODEL_FORMAT: GrpcCode.FAILED_PRECONDITION,
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

export class TandemError extends Error {
  override readonly name = 'TandemError';
  readonly issues: readonly string[];
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly code: GrpcCode,
    message: string,
    options: TandemErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.issues = options.issues ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  static invalidArgument(what: string, issues: readonly string[]): TandemError {
    return new TandemError(GrpcCode.INVALID_ARGUMENT, `invalid ${what}: ${issues.length} problem${issues.length === 1 ? '' : 's'}`, { issues });
  }

  /**
   * Normalises anything caught. Abort → CANCELLED, timeout → DEADLINE_EXCEEDED, zod → INVALID_ARGUMENT
   * with every issue, a gRPC ServiceError keeps its code and details, the engine's EngineError maps
   * its code; anything else is INTERNAL with a generic message (the original is kept as cause).
   */
  static from(e: unknown): TandemError {
    if (e instanceof TandemError) return e;
    if (e instanceof ZodError) return TandemError.invalidArgument('request', zodIssueLines(e));
    if (!isRecord(e)) return new TandemError(GrpcCode.INTERNAL, 'internal error', { cause: e });
    const name = e['name'];
    if (name === 'AbortError') return new TandemError(GrpcCode.CANCELLED, 'request cancelled', { cause: e });
    if (name === 'TimeoutError') return new TandemError(GrpcCode.DEADLINE_EXCEEDED, 'deadline exceeded', { cause: e });
    // Validation errors from @tandem/schemas (ValidationError.lines, ChatRequestError.issues).
    const lines = Array.isArray(e['issues']) ? e['issues'] : Array.isArray(e['lines']) ? e['lines'] : undefined;
    if ((name === 'ValidationError' || name === 'ChatRequestError') && lines) {
      return TandemError.invalidArgument(name === 'ChatRequestError' ? 'chat request' : String(e['what'] ?? 'request'), lines.map(String));
    }
    const code = e['code'];
    if (typeof code === 'number' && code in HTTP_STATUS && 'metadata' in e) return fromServiceError(e as unknown as ServiceError);
    if (name === 'EngineError' && typeof code === 'string') {
      const mapped = ENGINE_CODES[code];
      if (mapped !== undefined) return new TandemError(mapped, String(e['message']), { cause: e });
      return new TandemError(GrpcCode.INTERNAL, 'engine error', { cause: e });
    }
    return new TandemError(GrpcCode.INTERNAL, 'internal error', { cause: e });
  }

  get codeName(): GrpcCodeName {
    return GrpcCode[this.code] as GrpcCodeName;
  }
  get httpStatus(): number {
    return httpStatus(this.code);
  }

  /** The status a grpc-js server passes to `callback(err)` / `call.destroy(err)`. Never the cause. */
  toGrpc(): Partial<StatusObject> & { code: GrpcCode; details: string; metadata: Metadata } {
    const metadata = new Metadata();
    if (this.issues.length > 0) metadata.set(ISSUES_METADATA_KEY, Buffer.from(JSON.stringify(this.issues), 'utf8'));
    if (this.retryAfterSeconds !== undefined) metadata.set(RETRY_AFTER_METADATA_KEY, String(Math.ceil(this.retryAfterSeconds)));
    const details = this.issues.length > 0 ? `${this.message}\n${this.issues.join('\n')}` : this.message;
    return { code: this.code, details, metadata };
  }

  /** The JSON an HTTP edge may send: message, code name, issues. Never the cause. */
  toJSON(): { code: GrpcCodeName; message: string; issues?: string[] } {
    return this.issues.length > 0 ? { code: this.codeName, message: this.message, issues: [...this.issues] } : { code: this.codeName, message: this.message };
  }
}

/** The one code → HTTP status table. */
export function httpStatus(code: GrpcCode): number {
  return HTTP_STATUS[code] ?? 500;
}

function fromServiceError(e: ServiceError): TandemError {
  const md = e.metadata;
  const raw = md?.get(ISSUES_METADATA_KEY)[0];
  let issues: string[] | undefined;
  if (raw instanceof Buffer) {
    try {
      const parsed: unknown = JSON.parse(raw.toString('utf8'));
      if (Array.isArray(parsed)) issues = parsed.map(String);
    } catch {
      issues = undefined;
    }
  }
  const retry = Number(md?.get(RETRY_AFTER_METADATA_KEY)[0]);
  const details = e.details ?? '';
  const message = issues ? (details.split('\n')[0] ?? details) : details;
  const opts: TandemErrorOptions = { cause: e, issues, retryAfterSeconds: Number.isFinite(retry) ? retry : undefined };
  return new TandemError(e.code, message || GrpcCode[e.code] || 'error', opts);
}
