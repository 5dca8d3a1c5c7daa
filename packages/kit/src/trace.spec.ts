import { Metadata } from '@grpc/grpc-js';
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { extractTraceContext, injectTraceContext, traceMetadataFromHeaders } from './trace.js';

const sc = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };

describe('trace context in gRPC metadata', () => {
  it('writes a W3C traceparent for the given context and reads it back as a remote parent', () => {
    const md = injectTraceContext(new Metadata(), trace.setSpanContext(ROOT_CONTEXT, sc));
    expect(md.get('traceparent')).toEqual(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
    const back = trace.getSpanContext(extractTraceContext(md, ROOT_CONTEXT));
    expect(back).toEqual({ ...sc, isRemote: true });
  });

  it('writes nothing without a valid span and ignores malformed headers', () => {
    expect(injectTraceContext(new Metadata(), ROOT_CONTEXT).get('traceparent')).toEqual([]);
    const md = new Metadata();
    md.set('traceparent', '00-00000000000000000000000000000000-b7ad6b7169203331-01');
    expect(trace.getSpanContext(extractTraceContext(md, ROOT_CONTEXT))).toBeUndefined();
    md.set('traceparent', 'garbage');
    expect(trace.getSpanContext(extractTraceContext(md, ROOT_CONTEXT))).toBeUndefined();
  });

  it('carries tracestate along with traceparent (HTTP headers → metadata → engine metadata)', () => {
    const md = traceMetadataFromHeaders({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'vendor=abc,other=1', other: 'x' });
    expect(Object.keys(md.getMap()).sort()).toEqual(['traceparent', 'tracestate']);
    const out = injectTraceContext(new Metadata(), extractTraceContext(md, ROOT_CONTEXT));
    expect(out.get('tracestate')).toEqual(['vendor=abc,other=1']);
    expect(out.get('traceparent')).toEqual(['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']);
  });
});
