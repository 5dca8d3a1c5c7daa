// Trace context in gRPC metadata, API-only (opentelemetry-js style: libraries import the API, only
// entry points wire an SDK). With a registered propagator it is used; without one, W3C traceparent
// is written/read directly so context still crosses SDK → router → engine.
import type { Metadata } from '@grpc/grpc-js';
import { context as otContext, propagation, trace, TraceFlags, type Context, type TextMapGetter, type TextMapSetter } from '@opentelemetry/api';

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
  }
  return md;
}

/** The context carried by incoming metadata, on top of `base` (default: the active context). */
export function extractTraceContext(md: Metadata, base: Context = otContext.active()): Context {
  if (propagation.fields().length > 0) return propagation.extract(base, md, getter);
  const raw = getter.get(md, 'traceparent');
  const m = typeof raw === 'string' ? TRACEPARENT.exec(raw.trim().toLowerCase()) : null;
  if (!m) return base;
  const sc = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return trace.isSpanContextValid(sc) ? trace.setSpanContext(base, sc) : base;
}
