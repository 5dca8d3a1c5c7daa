// A 2-rank tensor-parallel replica as real processes on the tiny fixture: it generates the same greedy
// tokens as a 1-rank shard, and when rank 1 is SIGKILLed rank 0 reports NOT_SERVING and exits non-zero.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { engineV1, EngineGrpcClient } from '@tandem/proto';
import { afterAll, describe, expect, it } from 'vitest';
import { startShard } from './shard.js';
import { HealthClient, healthCheck } from './test-health.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TINY_MODEL = fileURLToPath(new URL('../../../native/tests/fixtures/cohere2-tiny', import.meta.url));
const REQUEST = engineV1.GenerateRequest.fromPartial({ prompt: [5, 10, 11, 12, 40, 41], maxTokens: 24, ignoreEos: true });

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

interface Proc { child: ChildProcess; exit: Promise<number | null>; logs: Record<string, unknown>[] }

function spawnRank(rank: number, leaderAddr: string): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      ...process.env, TANDEM_MODEL_DIR: TINY_MODEL, TANDEM_ENGINE_HOST: '127.0.0.1', TANDEM_ENGINE_PORT: '0', TANDEM_THREADS: '1',
      TANDEM_RANK: String(rank), TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: leaderAddr,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    try { logs.push(JSON.parse(line) as Record<string, unknown>); } catch { logs.push({ msg: line }); }
  });
  const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, exit, logs };
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms: number, procs: Proc[] = []): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(procs.map((p) => p.logs))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function greedyTokens(address: string): Promise<number[]> {
  const client = new EngineGrpcClient(address, credentials.createInsecure());
  try {
    const call = client.generate(REQUEST);
    const tokens: number[] = [];
    await new Promise<void>((res, rej) => {
      call.on('data', (m: engineV1.GenerateResponse) => tokens.push(...m.tokenIds));
      call.on('error', (e: ServiceError) => rej(e));
      call.on('end', () => res());
    });
    return tokens;
  } finally {
    client.close();
  }
}

describe('tensor-parallel shard (2 ranks as processes)', () => {
  const procs: Proc[] = [];
  afterAll(() => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });

  it('generates the 1-rank greedy tokens, and reports NOT_SERVING then exits non-zero when rank 1 is killed', async () => {
    const single = await startShard({ env: {}, logLevel: 'error', host: '127.0.0.1', port: 0, threads: 1, modelDir: TINY_MODEL });
    let expected: number[];
    try {
      await single.ready;
      expected = await greedyTokens(single.address);
    } finally {
      await single.close();
    }
    expect(expected).toHaveLength(24);

    const leaderAddr = `127.0.0.1:${await freePort()}`;
    const rank0 = spawnRank(0, leaderAddr);
    const rank1 = spawnRank(1, leaderAddr);
    procs.push(rank0, rank1);
    await waitFor('rank 0 serving', () => (rank0.logs.some((l) => l['msg'] === 'model loaded; serving') ? true : undefined), 60_000, procs);
    const address = String(rank0.logs.find((l) => l['msg'] === 'listening; loading model')!['address']);

    const info = await new Promise<engineV1.InfoResponse>((res, rej) => {
      const c = new EngineGrpcClient(address, credentials.createInsecure());
      c.info({}, (e: ServiceError | null, r: engineV1.InfoResponse) => { c.close(); if (e) rej(e); else res(r); });
    });
    expect(info.tensorParallel).toBe(2);
    expect(await greedyTokens(address)).toEqual(expected);

    const health = new HealthClient(address, credentials.createInsecure());
    try {
      expect(await healthCheck(health, '')).toBe('SERVING');
      const killedAt = Date.now();
      rank1.child.kill('SIGKILL');
      // Poll fast: rank 0 keeps answering NOT_SERVING only briefly before it exits.
      let sawNotServing = false;
      const code = await waitFor('rank 0 to exit', async () => {
        if (!sawNotServing) sawNotServing = (await healthCheck(health, '').catch(() => 'gone')) === 'NOT_SERVING';
        return rank0.child.exitCode !== null || rank0.child.signalCode !== null ? await rank0.exit : undefined;
      }, 5000, procs);
      expect(Date.now() - killedAt).toBeLessThan(5000);
      expect(code).not.toBe(0);
      expect(code).not.toBeNull();
      expect(sawNotServing).toBe(true);
      expect(rank0.logs.map((l) => l['msg'])).toContain('tensor-parallel group failed; NOT_SERVING');
    } finally {
      health.close();
    }
  }, 120_000);
});
