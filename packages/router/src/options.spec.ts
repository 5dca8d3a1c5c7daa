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

  it('takes engineService instead of engines, and exactly one of them', () => {
    const o = parseRouterOptions({}, { TANDEM_ENGINE_SERVICE: 'm-engine.ns.svc:50061', TANDEM_MODEL_DIR: '/m' });
    expect(o.engineService).toBe('m-engine.ns.svc:50061');
    expect(o.engines).toBeUndefined();
    const err = (input: object, environment: Record<string, string>) => {
      try { parseRouterOptions(input, environment); } catch (e) { return (e as Error).message + JSON.stringify(e); }
      return '';
    };
    const neither = err({}, { TANDEM_MODEL_DIR: '/m' });
    for (const f of ['TANDEM_ENGINES', 'TANDEM_ENGINE_SERVICE', 'one is required']) expect(neither).toContain(f);
    const both = err({ engines: ['a:1'] }, { TANDEM_ENGINE_SERVICE: 'svc:1', TANDEM_MODEL_DIR: '/m' });
    expect(both).toContain('set only one of');
    // Listed together with the other bad fields.
    const many = err({}, { TANDEM_ROUTER_GRPC_PORT: '70000' });
    for (const f of ['TANDEM_ENGINE_SERVICE', 'TANDEM_MODEL_DIR', 'TANDEM_ROUTER_GRPC_PORT']) expect(many).toContain(f);
    expect(err({}, { TANDEM_ENGINE_SERVICE: 'no-port', TANDEM_MODEL_DIR: '/m' })).toContain('TANDEM_ENGINE_SERVICE: must be host:port');
  });
});
