// Trace context in gRPC metadata, API-only (opentelemetry-js style: libraries import the API, only
// entry points wire an SDK). With a registered propagator it is used; without one, W3C traceparent
// is written/read directly so context still crosses SDK → router → engine. Spans go through the
// global tracer (a no-op until an entry point registers an SDK; then a no-op span simply carries the
// parent's context, so propagation works either way).
import { Metadata } from '@grpc/grpc-js';
import {
  context as otContext, createTraceState, propagation, SpanKind, SpanStatusCode, trace, TraceFlags,
  type Attributes, type Context, type Span, type TextMapGetter, type TextMapSetter,
} from '@opentelemetry/api';
import { GrpcCode, TandemError } from './errors.js';

export type { Context as TraceContext, Span } from '@opentelemetry/api';

const setter: TextMapSetter<Metadata> = { set: (md, key, value) => md.set(key, value) };
const getter: TextMapGetter<Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, key) => {
    const v = md.get(key).map((x) => (typeof x === 'string' ? x : x.toString('utf8')));
    return v.length === 0 ? undefined : v.length === 1 ? v[0] : v;
  },
};

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** Writes the context's trace (default: the active one) into `md`. */
export function injectTraceContext(md: Metadata, ctx: Context = otContext.active()): Metadata {
  if (propagation.fields().length > 0) {
    propagation.inject(ctx, md, setter);
    return md;
  }
  const sc = trace.getSpanContext(ctx);
  if (sc && trace.isSpanContextValid(sc)) {
    md.set('traceparent', `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`);
    const state = sc.traceState?.serialize();
    if (state) md.set('tracestate', state);
  }
  return md;
}

/** The context carried by incoming metadata, on top of `base` (default: the active context). */
export function extractTraceContext(md: Metadata, base: Context = otContext.active()): Context {
  if (propagation.fields().length > 0) return propagation.extract(base, md, getter);
  const raw = getter.get(md, 'traceparent');
  const m = typeof raw === 'string' ? TRACEPARENT.exec(raw.trim().toLowerCase()) : null;
  if (!m) return base;
  const state = getter.get(md, 'tracestate');
  const sc = {
    traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true,
    ...(typeof state === 'string' && state !== '' ? { traceState: createTraceState(state) } : {}),
  };
  return trace.isSpanContextValid(sc) ? trace.setSpanContext(base, sc) : base;
}

/** Trace headers of an HTTP request (traceparent, tracestate) as metadata, for extractTraceContext. */
export function traceMetadataFromHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): Metadata {
  const md = new Metadata();
  for (const k of ['traceparent', 'tracestate']) {
    const v = headers[k];
    if (typeof v === 'string') md.set(k, v);
  }
  return md;
}

/**
 * Starts a SERVER span for a request whose trace context arrived in `incoming`; `ctx` has the span
 * set, to parent the calls the request makes.
 */
export function startServerSpan(tracerName: string, name: string, incoming: Metadata, attributes: Attributes = {}): { span: Span; ctx: Context } {
  const parent = extractTraceContext(incoming);
  const span = trace.getTracer(tracerName).startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, ctx: trace.setSpan(parent, span) };
}

/** Starts a CLIENT span under `parent` (default: the active context) and writes its context into `outgoing` for the callee. */
export function startClientSpan(tracerName: string, name: string, parent: Context | undefined, outgoing: Metadata, attributes: Attributes = {}): Span {
  const base = parent ?? otContext.active();
  const span = trace.getTracer(tracerName).startSpan(name, { kind: SpanKind.CLIENT, attributes }, base);
  injectTraceContext(outgoing, trace.setSpan(base, span));
  return span;
}

/** Ends `span`; with an error, records it and sets ERROR status with the gRPC code name (never the cause). */
export function endSpan(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const err = TandemError.from(error);
    span.setAttribute('rpc.grpc.status_code', err.code);
    if (err.code !== GrpcCode.CANCELLED) {
      span.recordException({ name: err.codeName, message: err.message });
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${err.codeName}: ${err.message}` });
    }
  }
  span.end();
}
