// The router's one error type and its one conversion to HTTP / gRPC status (TGI: errors converted in
// exactly one place). `issues` carry every validation problem as "path: message"; `cause` is logged,
// never sent to a client.
import { status as GrpcStatus } from '@grpc/grpc-js';

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'FAILED_PRECONDITION'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export interface RouterErrorOptions {
  readonly issues?: readonly string[];
  /** Seconds a client should wait before retrying (429 / RESOURCE_EXHAUSTED). */
  readonly retryAfterSeconds?: number;
  readonly cause?: unknown;
}

export class RouterError extends Error {
  readonly issues: readonly string[];
  readonly retryAfterSeconds: number | undefined;
  constructor(readonly code: ErrorCode, message: string, options: RouterErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'RouterError';
    this.issues = options.issues ?? [];
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** Normalises anything caught: abort → CANCELLED, timeout → DEADLINE_EXCEEDED, else INTERNAL. */
  static from(e: unknown): RouterError {
    if (e instanceof RouterError) return e;
    const name = (e as { name?: unknown } | null)?.name;
    if (name === 'AbortError') return new RouterError('CANCELLED', 'request cancelled', { cause: e });
    if (name === 'TimeoutError') return new RouterError('DEADLINE_EXCEEDED', 'deadline exceeded', { cause: e });
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'number') return fromGrpcCode(code, (e as Error).message ?? 'engine error', e);
    return new RouterError('INTERNAL', 'internal error', { cause: e });
  }
}

const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  CANCELLED: 499,
  FAILED_PRECONDITION: 422,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

export function grpcStatusOf(code: ErrorCode): GrpcStatus {
  return GrpcStatus[code];
}

/** A gRPC status number from an engine call → RouterError with a safe message. */
export function fromGrpcCode(code: number, message: string, cause?: unknown): RouterError {
  const name = (Object.keys(HTTP_STATUS) as ErrorCode[]).find((k) => GrpcStatus[k] === code);
  return new RouterError(name ?? 'INTERNAL', name ? message : 'internal error', { cause });
}

/** The body every HTTP error gets: a message a person can read and every issue with its path. */
export function errorBody(e: RouterError): { message: string; code: ErrorCode; issues?: readonly string[] } {
  const message = e.issues.length > 0 ? `${e.message}:\n  ${e.issues.join('\n  ')}` : e.message;
  return { message, code: e.code, ...(e.issues.length > 0 ? { issues: e.issues } : {}) };
}
