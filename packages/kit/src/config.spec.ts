import { describe, expect, it } from 'vitest';
import { describeConfig, env, field, loadConfig } from './config.js';
import { GrpcCode, TandemError } from './errors.js';

const fields = {
  port: field('TANDEM_ENGINE_PORT', env.int({ min: 0, max: 65535 }).default(50061), 'engine gRPC port'),
  modelDir: field('TANDEM_MODEL_DIR', env.string(), 'model folder'),
  threads: field('TANDEM_THREADS', env.int({ min: 1 }).optional(), 'kernel threads'),
  prefix: field('TANDEM_PREFIX_CACHE', env.bool().default(true), 'prefix caching'),
  keys: field('TANDEM_KEYS', env.list().default([]), 'key ids'),
};

describe('loadConfig', () => {
  it('reads env names, applies defaults and converts types', () => {
    const c = loadConfig(fields, { env: { TANDEM_MODEL_DIR: '/m', TANDEM_THREADS: '4', TANDEM_PREFIX_CACHE: 'false', TANDEM_KEYS: 'a, b' } });
    expect(c).toEqual({ port: 50061, modelDir: '/m', threads: 4, prefix: false, keys: ['a', 'b'] });
  });

  it('lets code overrides win over the environment', () => {
    const c = loadConfig(fields, { env: { TANDEM_MODEL_DIR: '/m', TANDEM_ENGINE_PORT: '1' }, overrides: { port: 0, prefix: false } });
    expect(c.port).toBe(0);
    expect(c.prefix).toBe(false);
  });

  it('reports every bad variable by its env name in one error', () => {
    let err: unknown;
    try {
      loadConfig(fields, { env: { TANDEM_ENGINE_PORT: '70000', TANDEM_THREADS: 'many', TANDEM_PREFIX_CACHE: 'maybe', TANDEM_MODEL_DIR: '' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TandemError);
    const e = err as TandemError;
    expect(e.code).toBe(GrpcCode.INVALID_ARGUMENT);
    const text = e.issues.join('\n');
    for (const name of ['TANDEM_ENGINE_PORT', 'TANDEM_THREADS', 'TANDEM_PREFIX_CACHE', 'TANDEM_MODEL_DIR']) expect(text).toContain(`${name}:`);
    expect(text).toContain('(not set)');
  });

  it('describes itself as a Markdown table with defaults', () => {
    const md = describeConfig(fields);
    expect(md).toContain('| `TANDEM_ENGINE_PORT` | engine gRPC port | `50061` |');
    expect(md).toContain('| `TANDEM_MODEL_DIR` | model folder |  |');
  });
});
