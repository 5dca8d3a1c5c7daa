import { describe, expect, it } from 'vitest';
import { parseRouterOptions } from './options.js';

describe('router options', () => {
  it('applies defaults and derives the model name from the folder', () => {
    const o = parseRouterOptions({ engines: ['127.0.0.1:50061'], modelDir: '/models/command-r7b/' });
    expect(o).toMatchObject({ modelName: 'command-r7b', httpPort: 8080, grpcPort: 50051, maxQueued: 1024, maxRetries: 2, host: '0.0.0.0' });
  });

  it('reads the environment, flags win', () => {
    const o = parseRouterOptions({ httpPort: 9000 }, { TANDEM_ENGINES: 'a:1, b:2', TANDEM_MODEL_DIR: '/m', TANDEM_ROUTER_HTTP_PORT: '1234', TANDEM_MAX_QUEUED: '5' });
    expect(o.engines).toEqual(['a:1', 'b:2']);
    expect(o.httpPort).toBe(9000);
    expect(o.maxQueued).toBe(5);
  });

  it('names every bad field at once', () => {
    let msg = '';
    try { parseRouterOptions({}, { TANDEM_ENGINES: 'nope', TANDEM_ROUTER_GRPC_PORT: '70000' }); } catch (e) { msg = (e as Error).message + JSON.stringify(e); }
    for (const f of ['TANDEM_ENGINES', 'TANDEM_MODEL_DIR', 'TANDEM_ROUTER_GRPC_PORT']) expect(msg).toContain(f);
  });
});
