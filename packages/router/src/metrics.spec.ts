import { describe, expect, it } from 'vitest';
import { RouterMetrics } from './metrics.js';

describe('RouterMetrics', () => {
  it('exposes the tandem_router_* series in Prometheus text format, one registry per router', async () => {
    const a = new RouterMetrics();
    const b = new RouterMetrics();
    a.ttft.observe({ route: 'v2-chat' }, 0.2);
    a.errors.inc({ route: 'v2-chat', code: 'INVALID_ARGUMENT' });
    a.queueDepth.set(3);
    const text = (await a.render()).body;
    for (const name of ['tandem_router_time_to_first_token_seconds_bucket', 'tandem_router_time_per_output_token_seconds', 'tandem_router_request_duration_seconds', 'tandem_router_prompt_tokens_total', 'tandem_router_output_tokens_total']) {
      expect(text).toContain(name);
    }
    expect(text).toContain('tandem_router_queue_depth 3');
    expect(text).toContain('tandem_router_errors_total{route="v2-chat",code="INVALID_ARGUMENT"} 1');
    expect((await b.render()).body).toContain('tandem_router_queue_depth 0');
  });
});
