// A real shard (real engine on the tiny fixture model) on loopback, driven by the generated client.
import { credentials, Metadata, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import type { FinishReason } from '@tandem/engine';
import { createLogger } from '@tandem/kit';
import { engineV1, EngineGrpcClient } from '@tandem/proto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startShard, type Shard } from './shard.js';
import { HealthClient, healthCheck } from './test-health.js';

export const TINY_MODEL = fileURLToPath(new URL('../../../native/tests/fixtures/cohere2-tiny', import.meta.url));
const quiet = { env: {}, logLevel: 'error' as const, host: '127.0.0.1', port: 0, threads: 1 };

type Client = InstanceType<typeof EngineGrpcClient>;

function collect(call: ClientReadableStream<engineV1.GenerateResponse>): Promise<engineV1.GenerateResponse[]> {
  return new Promise((res, rej) => {
    const out: engineV1.GenerateResponse[] = [];
    call.on('data', (m: engineV1.GenerateResponse) => out.push(m));
    call.on('error', rej);
    call.on('end', () => res(out));
  });
}
function unary<Res>(fn: (cb: (e: ServiceError | null, r: Res) => void) => unknown): Promise<Res> {
  return new Promise((res, rej) => fn((e, r) => (e ? rej(e) : res(r))));
}
const req = (p: Partial<engineV1.GenerateRequest>) => engineV1.GenerateRequest.fromPartial({ prompt: [5, 10, 11, 12], maxTokens: 8, ignoreEos: true, ...p });
const kvUsed = (s: engineV1.StatsResponse) => s.kvPools.reduce((n, p) => n + p.blocksUsed, 0);

async function waitFor(pred: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('shard', () => {
  let shard: Shard;
  let client: Client;
  let health: HealthClient;
  const ends = new Map<string, FinishReason>();

  beforeAll(async () => {
    shard = await startShard({ ...quiet, modelDir: TINY_MODEL, modelName: 'tiny', onRequestEnd: (id, f) => ends.set(id, f) });
    // The model cannot have loaded yet: loading completes on a later turn of the event loop.
    expect(shard.health.status).toBe('NOT_SERVING');
    await shard.ready;
    client = new EngineGrpcClient(shard.address, credentials.createInsecure());
    health = new HealthClient(shard.address, credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    health?.close();
    await shard?.close();
  });

  it('reports SERVING once the model is loaded, with Info describing it', async () => {
    expect(await healthCheck(health, '')).toBe('SERVING');
    expect(await healthCheck(health, 'tandem.engine.v1.Engine')).toBe('SERVING');
    const info = await unary<engineV1.InfoResponse>((cb) => client.info({}, cb));
    expect(info).toMatchObject({ model: 'tiny', tensorParallel: 1, rank: 0, dtype: 'f32', vocabSize: 384, maxSeqLen: 256, blockSize: 16, eosTokenId: 3, backend: 'cpu' });
  });

  it('streams generated tokens with logprobs, then finish reason and usage', async () => {
    const msgs = await collect(client.generate(req({ maxTokens: 6, sampling: { topLogprobs: 2 } })));
    const tokens = msgs.flatMap((m) => m.tokenIds);
    expect(tokens).toHaveLength(6);
    for (const m of msgs) {
      expect(m.logprobs).toHaveLength(m.tokenIds.length);
      expect(m.top).toHaveLength(m.tokenIds.length);
      for (const t of m.top) expect(t.tokenIds).toHaveLength(2);
    }
    const last = msgs[msgs.length - 1]!;
    expect(last.finishReason).toBe(engineV1.FinishReason.FINISH_REASON_LENGTH);
    expect(last.usage).toEqual({ promptTokens: 4, completionTokens: 6 });
    expect(msgs.slice(0, -1).every((m) => m.finishReason === engineV1.FinishReason.FINISH_REASON_UNSPECIFIED)).toBe(true);
    // Greedy decoding is deterministic: the same request gives the same tokens.
    const again = (await collect(client.generate(req({ maxTokens: 6 })))).flatMap((m) => m.tokenIds);
    expect(again).toEqual(tokens);
  });

  it('rejects a bad request with INVALID_ARGUMENT naming every field, and keeps serving', async () => {
    const bad = req({ prompt: [1, 99999], maxTokens: 0, stopTokenIds: [500], sampling: { topP: 2, temperature: -1, topLogprobs: 0 } });
    const err = (await collect(client.generate(bad)).catch((e: unknown) => e)) as ServiceError;
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    for (const f of ['prompt[1]:', 'max_tokens:', 'stop_token_ids[0]:', 'sampling.top_p:', 'sampling.temperature:']) expect(err.details).toContain(f);
    const issues = JSON.parse(err.metadata.get('tandem-issues-bin')[0]!.toString()) as string[];
    expect(issues.length).toBeGreaterThanOrEqual(5);
    const tooLong = (await collect(client.generate(req({ maxTokens: 253 }))).catch((e: unknown) => e)) as ServiceError;
    expect(tooLong.code).toBe(status.INVALID_ARGUMENT);
    expect(tooLong.details).toContain('max_tokens: prompt (4 tokens) + max_tokens (253) exceeds the sequence limit 256');
    expect((await collect(client.generate(req({ maxTokens: 2 })))).length).toBeGreaterThan(0);
  });

  it('cancels the engine request when the client cancels, and its KV blocks are freed', async () => {
    const before = kvUsed(await unary<engineV1.StatsResponse>((cb) => client.stats({}, cb)));
    const call = client.generate(req({ requestId: 'cancel-me', maxTokens: 250 }));
    await new Promise<void>((res) => call.once('data', () => res()));
    const during = await unary<engineV1.StatsResponse>((cb) => client.stats({}, cb));
    call.on('error', () => {});
    call.cancel();
    await waitFor(() => ends.has('cancel-me'));
    expect(ends.get('cancel-me')).toBe('cancelled');
    expect(during.activeStreams).toBe(1);
    expect(kvUsed(during)).toBeGreaterThan(before);
    const after = await unary<engineV1.StatsResponse>((cb) => client.stats({}, cb));
    expect(kvUsed(after)).toBe(before);
    expect(after.activeStreams).toBe(0);
  });

  it('cancels the engine request when the deadline passes', async () => {
    // Its own shard with a long context, so the request cannot finish (thousands of tokens) before
    // a 30 ms deadline even on a fast machine: the engine must cancel it, not run it to the end.
    const longEnds = new Map<string, string>();
    const long = await startShard({ ...quiet, modelDir: TINY_MODEL, maxSeqLen: 16384, onRequestEnd: (id, f) => longEnds.set(id, f) });
    const longClient = new EngineGrpcClient(long.address, credentials.createInsecure());
    try {
      await long.ready;
      const call = longClient.generate(req({ requestId: 'late', maxTokens: 12000 }), new Metadata(), { deadline: Date.now() + 30 });
      const err = (await collect(call).catch((e: unknown) => e)) as ServiceError;
      expect(err.code).toBe(status.DEADLINE_EXCEEDED);
      await waitFor(() => longEnds.has('late'));
      expect(longEnds.get('late')).toBe('cancelled');
    } finally {
      longClient.close();
      await long.close();
    }
  });

  it('cancels a running request by id through Cancel', async () => {
    const call = client.generate(req({ requestId: 'by-id', maxTokens: 250 }));
    const done = collect(call);
    await new Promise<void>((res) => call.once('data', () => res()));
    expect(await unary<engineV1.CancelResponse>((cb) => client.cancel({ requestId: 'by-id' }, cb))).toEqual({ cancelled: true });
    const msgs = await done;
    expect(msgs[msgs.length - 1]!.finishReason).toBe(engineV1.FinishReason.FINISH_REASON_CANCELLED);
    expect(await unary<engineV1.CancelResponse>((cb) => client.cancel({ requestId: 'by-id' }, cb))).toEqual({ cancelled: false });
  });
});

describe('shard lifecycle', () => {
  it('stops admitting (UNAVAILABLE, NOT_SERVING), finishes running requests, then resolves', async () => {
    const shard = await startShard({ ...quiet, modelDir: TINY_MODEL });
    await shard.ready;
    const client = new EngineGrpcClient(shard.address, credentials.createInsecure());
    const health = new HealthClient(shard.address, credentials.createInsecure());
    try {
      const running = client.generate(req({ maxTokens: 200 }));
      const result = collect(running);
      await new Promise<void>((res) => running.once('data', () => res()));
      const drained = unary<engineV1.DrainResponse>((cb) => client.drain({ wait: true }, cb));
      await waitFor(async () => (await healthCheck(health, '')) === 'NOT_SERVING');
      const refused = (await collect(client.generate(req({}))).catch((e: unknown) => e)) as ServiceError;
      expect(refused.code).toBe(status.UNAVAILABLE);
      expect(refused.details).toContain('draining');
      const msgs = await result;
      expect(msgs[msgs.length - 1]!.finishReason).toBe(engineV1.FinishReason.FINISH_REASON_LENGTH);
      expect(msgs.flatMap((m) => m.tokenIds)).toHaveLength(200);
      expect(await drained).toEqual({ running: 0 });
    } finally {
      client.close();
      health.close();
      await shard.close();
    }
  });

  it('stays NOT_SERVING and refuses work when the model fails to load', async () => {
    const shard = await startShard({ ...quiet, modelDir: '/nonexistent/model', logger: createLogger({ component: 'shard', write: () => {} }) });
    await expect(shard.ready).rejects.toThrow();
    const client = new EngineGrpcClient(shard.address, credentials.createInsecure());
    const health = new HealthClient(shard.address, credentials.createInsecure());
    try {
      expect(await healthCheck(health, '')).toBe('NOT_SERVING');
      const err = (await collect(client.generate(req({}))).catch((e: unknown) => e)) as ServiceError;
      expect(err.code).toBe(status.UNAVAILABLE);
      expect(err.details).toContain('model failed to load');
    } finally {
      client.close();
      health.close();
      await shard.close();
    }
  });

  it('rejects bad configuration naming each variable', async () => {
    await expect(startShard({ env: { TANDEM_MODEL_DIR: TINY_MODEL, TANDEM_RANK: '-1', TANDEM_ENGINE_PORT: 'x' } })).rejects.toMatchObject({
      issues: [expect.stringContaining('TANDEM_RANK:'), expect.stringContaining('TANDEM_ENGINE_PORT:')],
    });
  });
});

describe('shard settings checked against the loaded model and the machine', () => {
  const captured = () => {
    const lines: Record<string, any>[] = [];
    return { lines, logger: createLogger({ component: 'shard', level: 'debug', write: (l) => lines.push(JSON.parse(l) as Record<string, any>) }) };
  };
  const kvTotals = async (shard: Shard) => {
    const client = new EngineGrpcClient(shard.address, credentials.createInsecure());
    try {
      const s = await unary<engineV1.StatsResponse>((cb) => client.stats({}, cb));
      return s.kvPools.map((p) => p.blocksTotal);
    } finally {
      client.close();
    }
  };

  it('TANDEM_DTYPE bf16 on an f32 checkpoint refuses to serve, naming the variable and the stored dtype', async () => {
    const { logger } = captured();
    const shard = await startShard({ ...quiet, modelDir: TINY_MODEL, dtype: 'bf16', logger });
    try {
      await expect(shard.ready).rejects.toThrow(/^TANDEM_DTYPE: bf16 was asked .* stored as f32, and the engine does not convert weights/);
      expect(shard.health.status).toBe('NOT_SERVING');
    } finally {
      await shard.close();
    }
  });

  it('TANDEM_DTYPE auto serves the stored dtype', async () => {
    const shard = await startShard({ ...quiet, modelDir: TINY_MODEL, dtype: 'auto' });
    try {
      await shard.ready;
      expect(shard.health.status).toBe('SERVING');
    } finally {
      await shard.close();
    }
  });

  it('TANDEM_KV_MEMORY_FRACTION sizes the KV pools (logged with its inputs once); TANDEM_KV_MEMORY_BYTES wins', async () => {
    const MiB16 = 16 * 1024 * 1024;
    const byBytes = await startShard({ ...quiet, modelDir: TINY_MODEL, kvMemoryBytes: MiB16 });
    const { lines, logger } = captured();
    // A fraction this small is clamped to the 16 MiB minimum: the same pools as 16 MiB given in bytes.
    const byFraction = await startShard({ ...quiet, modelDir: TINY_MODEL, kvMemoryFraction: 1e-9, logger });
    const { lines: bothLines, logger: bothLogger } = captured();
    const both = await startShard({ ...quiet, modelDir: TINY_MODEL, kvMemoryFraction: 1e-9, kvMemoryBytes: 2 * MiB16, logger: bothLogger });
    try {
      await Promise.all([byBytes.ready, byFraction.ready, both.ready]);
      expect(await kvTotals(byFraction)).toEqual(await kvTotals(byBytes));
      const logged = lines.filter((l) => l['msg'] === 'KV budget from TANDEM_KV_MEMORY_FRACTION');
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ level: 'warn', kvMemoryBytes: MiB16, clamped: true, fraction: 1e-9, worldSize: 1 });
      expect(logged[0]!['modelBytes']).toBeGreaterThan(0);
      expect(logged[0]!['totalMemBytes']).toBeGreaterThan(0);
      expect(logged[0]!['rssBytes']).toBeGreaterThan(0);
      expect(bothLines.some((l) => l['msg'] === 'KV budget from TANDEM_KV_MEMORY_FRACTION')).toBe(false);
      expect((await kvTotals(both)).reduce((a, b) => a + b, 0)).toBeGreaterThan((await kvTotals(byBytes)).reduce((a, b) => a + b, 0));
    } finally {
      await Promise.all([byBytes.close(), byFraction.close(), both.close()]);
    }
  });

  it('a TANDEM_KV_MEMORY_FRACTION budget for a model folder that cannot be read fails the load, not the process', async () => {
    const { logger } = captured();
    const shard = await startShard({ ...quiet, modelDir: '/nonexistent/model', kvMemoryFraction: 0.5, logger });
    try {
      await expect(shard.ready).rejects.toThrow(/nonexistent/);
      expect(shard.health.status).toBe('NOT_SERVING');
    } finally {
      await shard.close();
    }
  });

  it('refuses what the engine does not do yet before loading, naming each variable', async () => {
    await expect(
      startShard({ env: { TANDEM_MODEL_DIR: TINY_MODEL, TANDEM_PREFIX_CACHING: 'true', TANDEM_RANKS_PER_POD: '2', TANDEM_MODEL_MERGE: '[{"dir":"/x","weight":1}]', TANDEM_DTYPE: 'fp8', TANDEM_BACKEND: 'cuda' } }),
    ).rejects.toMatchObject({
      issues: [
        expect.stringMatching(/^TANDEM_MODEL_MERGE: merging checkpoints at load time is not implemented yet/),
        expect.stringMatching(/^TANDEM_RANKS_PER_POD: 2 ranks per pod is not supported/),
        expect.stringMatching(/^TANDEM_BACKEND: cuda is not available/),
        expect.stringMatching(/^TANDEM_DTYPE: fp8 needs the CUDA backend on Hopper/),
        expect.stringMatching(/^TANDEM_PREFIX_CACHING: prefix caching is not implemented yet/),
      ],
    });
  });
});
