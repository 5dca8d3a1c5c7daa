// W3C trace context from the active OpenTelemetry context into call metadata (API only: a no-op
// unless the application wires an SDK or sets a span context). A registered propagator wins.
import type { Metadata } from '@grpc/grpc-js';
import { context, propagation, trace, type Context } from '@opentelemetry/api';

/** The context to propagate for a call made now (captured when the call is made, not iterated). */
export function activeContext(): Context {
  return context.active();
}

export function injectTrace(md: Metadata, ctx: Context = context.active()): void {
  if (propagation.fields().length > 0) {
    propagation.inject(ctx, md, { set: (m, k, v) => m.set(k, v) });
    return;
  }
  const sc = trace.getSpanContext(ctx);
  if (sc && trace.isSpanContextValid(sc)) md.set('traceparent', `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`);
}
