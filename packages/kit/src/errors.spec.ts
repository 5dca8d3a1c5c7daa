import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { GrpcCode, httpStatus, ISSUES_METADATA_KEY, TandemError } from './errors.js';

describe('TandemError.from', () => {
  it('maps abort to CANCELLED and timeout to DEADLINE_EXCEEDED', () => {
    const ac = new AbortController();
    ac.abort();
    expect(TandemError.from(ac.signal.reason).code).toBe(GrpcCode.CANCELLED);
    expect(TandemError.from(AbortSignal.timeout(0).reason ?? new DOMException('t', 'TimeoutError')).code).toBe(GrpcCode.DEADLINE_EXCEEDED);
    expect(TandemError.from(new DOMException('x', 'TimeoutError')).code).toBe(GrpcCode.DEADLINE_EXCEEDED);
  });

  it('lists every zod issue with its path as INVALID_ARGUMENT', () => {
    const r = z.strictObject({ a: z.int(), b: z.strictObject({ c: z.string() }) }).safeParse({ a: 'x', b: { c: 1, d: 2 } });
    const e = TandemError.from(r.error);
    expect(e.code).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(e.issues).toHaveLength(3);
    expect(e.issues.join('\n')).toMatch(/^a: /m);
    expect(e.issues.join('\n')).toContain('b.c: ');
    expect(e.issues.join('\n')).toContain('b.d: unknown field');
    expect(e.httpStatus).toBe(400);
  });

  it('hides the message of an unknown error but keeps it as cause', () => {
    const boom = new Error('db password is hunter2');
    const e = TandemError.from(boom);
    expect(e.code).toBe(GrpcCode.INTERNAL);
    expect(e.message).toBe('internal error');
    expect(e.cause).toBe(boom);
    expect(e.toGrpc().details).not.toContain('hunter2');
    expect(JSON.stringify(e.toJSON())).not.toContain('hunter2');
  });

  it('maps engine errors by code and keeps their field-naming message', () => {
    const engineErr = Object.assign(new Error('prompt[3]: token id 99999 >= vocab 256'), { name: 'EngineError', code: 'INVALID_ARGUMENT' });
    const e = TandemError.from(engineErr);
    expect(e.code).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(e.message).toContain('prompt[3]');
    expect(TandemError.from(Object.assign(new Error('disk'), { name: 'EngineError', code: 'IO_ERROR' })).message).toBe('engine error');
  });

  it('round-trips code, issues and retry hint through gRPC status metadata', () => {
    const orig = new TandemError(GrpcCode.RESOURCE_EXHAUSTED, 'queue full', { retryAfterSeconds: 2.2, issues: ['x: y'], cause: new Error('secret') });
    const st = orig.toGrpc();
    expect(st.details).toBe('queue full\nx: y');
    expect(st.metadata.get('retry-after')).toEqual(['3']);
    const wire = Object.assign(new Error(st.details), { code: st.code, details: st.details, metadata: st.metadata }) as ServiceError;
    const back = TandemError.from(wire);
    expect(back.code).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(back.message).toBe('queue full');
    expect(back.issues).toEqual(['x: y']);
    expect(back.retryAfterSeconds).toBe(3);
    expect(back.httpStatus).toBe(429);
  });

  it('reads schema validation errors', () => {
    const e = TandemError.from(Object.assign(new Error('bad'), { name: 'ChatRequestError', issues: ['messages[0].role: x', 'model: y'] }));
    expect(e.code).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(e.issues).toEqual(['messages[0].role: x', 'model: y']);
  });
});

describe('httpStatus', () => {
  it.each([
    [GrpcCode.INVALID_ARGUMENT, 400],
    [GrpcCode.UNAUTHENTICATED, 401],
    [GrpcCode.PERMISSION_DENIED, 403],
    [GrpcCode.NOT_FOUND, 404],
    [GrpcCode.RESOURCE_EXHAUSTED, 429],
    [GrpcCode.CANCELLED, 499],
    [GrpcCode.INTERNAL, 500],
    [GrpcCode.UNIMPLEMENTED, 501],
    [GrpcCode.UNAVAILABLE, 503],
    [GrpcCode.DEADLINE_EXCEEDED, 504],
  ])('maps gRPC %i to HTTP %i', (code, http) => {
    expect(httpStatus(code)).toBe(http);
  });

  it('covers every gRPC code', () => {
    for (const v of Object.values(GrpcCode)) if (typeof v === 'number') expect(httpStatus(v)).toBeGreaterThanOrEqual(200);
    expect(new Metadata().get(ISSUES_METADATA_KEY)).toEqual([]);
  });
});
