// The SDK's error: the gRPC code the server sent (or CANCELLED / DEADLINE_EXCEEDED for local abort
// and deadline), its message, and every validation issue ("path: message") it carried.
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

export { status as GrpcStatus };
export type GrpcStatusName = keyof typeof status;

/** Trailer keys the Tandem servers use for details (see @tandem/kit errors). */
const ISSUES_KEY = 'tandem-issues-bin';
const RETRY_AFTER_KEY = 'retry-after';

export class TandemClientError extends Error {
  override readonly name = 'TandemClientError';
  constructor(
    readonly code: status,
    message: string,
    readonly issues: readonly string[] = [],
    readonly retryAfterSeconds?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get codeName(): GrpcStatusName {
    return status[this.code] as GrpcStatusName;
  }
}

function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && (e as { metadata?: unknown }).metadata instanceof Metadata;
}

export function toClientError(e: unknown): TandemClientError {
  if (e instanceof TandemClientError) return e;
  if (isServiceError(e)) {
    let issues: string[] = [];
    const raw = e.metadata.get(ISSUES_KEY)[0];
    if (raw instanceof Buffer) {
      try {
        const parsed: unknown = JSON.parse(raw.toString('utf8'));
        if (Array.isArray(parsed)) issues = parsed.map(String);
      } catch {
        issues = [];
      }
    }
    const retry = Number(e.metadata.get(RETRY_AFTER_KEY)[0]);
    const details = e.details ?? e.message;
    const message = issues.length > 0 ? (details.split('\n')[0] ?? details) : details;
    return new TandemClientError(e.code, message, issues, Number.isFinite(retry) ? retry : undefined, { cause: e });
  }
  const name = (e as { name?: unknown } | null)?.name;
  if (name === 'AbortError') return new TandemClientError(status.CANCELLED, 'request cancelled', [], undefined, { cause: e });
  if (name === 'TimeoutError') return new TandemClientError(status.DEADLINE_EXCEEDED, 'deadline exceeded', [], undefined, { cause: e });
  return new TandemClientError(status.UNKNOWN, e instanceof Error ? e.message : String(e), [], undefined, { cause: e });
}
