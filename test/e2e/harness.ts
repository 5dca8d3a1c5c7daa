// Shared setup for the end-to-end suites: a cohere2-tiny checkpoint made by the real CLI
// (`tandem model init`) in a temp dir, and the local stack (`tandem up`'s startLocalStack: shard
// and router child processes on loopback, free ports).
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { credentials } from '@grpc/grpc-js';
import { EngineGrpcClient, type engineV1 } from '@tandem/proto';
import { startLocalStack, type LocalStack } from '@tandem/cli';

const ROOT = join(import.meta.dirname, '..', '..');
let modelDir: Promise<string> | undefined;

/** The cohere2-tiny preset written once per test process by `tandem model init`. */
export function tinyModel(): Promise<string> {
  modelDir ??= (async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tandem-e2e-')), 'cohere2-tiny');
    await promisify(execFile)(process.execPath, [join(ROOT, 'packages/cli/bin/tandem.js'), 'model', 'init', '--preset', 'cohere2-tiny', '--out', dir], { cwd: ROOT });
    return dir;
  })();
  return modelDir;
}

export const MODEL = 'cohere2-tiny';

export interface StackOptions {
  /** Tensor-parallel ranks per replica (default 1: the fast single-process shards most suites want). */
  readonly tp?: number;
  /** Respawn failed groups (default false here, so a killed replica stays down for the suites that count on it). */
  readonly restart?: boolean;
  /** Receives the stack's group failure / restart lines (default: stderr with TANDEM_E2E_LOGS, else dropped). */
  readonly log?: (line: string) => void;
}

/**
 * The stack on free ports, one kernel thread per shard process. The tiny preset's 256-position
 * context is too short for a cmd3 prompt (its small vocabulary spends ~1,400 tokens on the
 * template), so the shards run with a 16,384-token limit; RoPE has no hard limit and the weights
 * are random anyway.
 */
export async function startStack(replicas: number, env: Record<string, string> = {}, o: StackOptions = {}): Promise<LocalStack> {
  const logs = Boolean(process.env['TANDEM_E2E_LOGS']);
  return startLocalStack({
    modelDir: await tinyModel(), replicas, tp: o.tp ?? 1, httpPort: 0, grpcPort: 0, enginePort: 0, threads: 1, host: '127.0.0.1',
    childStderr: logs ? 'inherit' : 'ignore', readyTimeoutMs: 120_000, restart: o.restart ?? false,
    log: (line) => {
      o.log?.(line);
      if (logs) process.stderr.write(`${line}\n`);
    },
    env: { TANDEM_MAX_SEQ_LEN: '16384', TANDEM_KV_MEMORY_BYTES: String(64 << 20), TANDEM_LOG_LEVEL: 'warn', ...env },
  });
}

/** Stats straight from one engine (bypassing the router). */
export function engineStats(address: string): Promise<engineV1.StatsResponse> {
  const c = new EngineGrpcClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) => {
    c.stats({}, (e, r) => {
      c.close();
      if (e) reject(e);
      else resolve(r);
    });
  });
}

export const kvUsed = (s: engineV1.StatsResponse): number => s.kvPools.reduce((n, p) => n + p.blocksUsed, 0);

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function postJson(base: string, path: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), ...init });
}

export const WEATHER_TOOL = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Current weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'City name' } }, required: ['city'] },
  },
};
