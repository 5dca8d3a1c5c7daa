// The shard as a real child process: env config, SIGTERM drains (running request finishes), exit 0.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { credentials, type ServiceError } from '@grpc/grpc-js';
import { engineV1, EngineGrpcClient } from '@tandem/proto';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));
const TINY_MODEL = fileURLToPath(new URL('../../../native/tests/fixtures/cohere2-tiny', import.meta.url));

describe('shard process', () => {
  it('serves from env config and drains on SIGTERM: the running request completes, then exit 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, TANDEM_MODEL_DIR: TINY_MODEL, TANDEM_ENGINE_HOST: '127.0.0.1', TANDEM_ENGINE_PORT: '0', TANDEM_THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const logs: Record<string, unknown>[] = [];
    let address = '';
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stderr! }).on('line', (line) => {
        const rec = JSON.parse(line) as Record<string, unknown>;
        logs.push(rec);
        if (rec['msg'] === 'listening; loading model') address = String(rec['address']);
        if (rec['msg'] === 'model loaded; serving') resolve();
      });
      void exited.then((code) => reject(new Error(`shard exited early with ${code}: ${JSON.stringify(logs)}`)));
    });
    const client = new EngineGrpcClient(address, credentials.createInsecure());
    try {
      const call = client.generate(engineV1.GenerateRequest.fromPartial({ prompt: [5, 6, 7], maxTokens: 240, ignoreEos: true }));
      const msgs: engineV1.GenerateResponse[] = [];
      const done = new Promise<void>((res, rej) => {
        call.on('data', (m: engineV1.GenerateResponse) => {
          if (msgs.push(m) === 1) child.kill('SIGTERM');
        });
        call.on('error', (e: ServiceError) => rej(e));
        call.on('end', () => res());
      });
      await done;
      expect(msgs.flatMap((m) => m.tokenIds)).toHaveLength(240);
      expect(msgs[msgs.length - 1]!.finishReason).toBe(engineV1.FinishReason.FINISH_REASON_LENGTH);
      expect(await exited).toBe(0);
      expect(logs.map((l) => l['msg'])).toEqual(expect.arrayContaining(['draining', 'drained; exiting']));
      expect(logs.every((l) => l['component'] === 'shard')).toBe(true);
    } finally {
      client.close();
      child.kill('SIGKILL');
    }
  });

  it('exits 1 on a setting this build cannot honour, logging the variable and why (TANDEM_BACKEND=cuda)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      env: { ...process.env, TANDEM_MODEL_DIR: TINY_MODEL, TANDEM_BACKEND: 'cuda', TANDEM_ENGINE_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const logs: Record<string, unknown>[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    expect(code).toBe(1);
    const failed = logs.find((l) => l['msg'] === 'shard failed to start');
    expect(failed?.['issues']).toEqual(['TANDEM_BACKEND: cuda is not available: this build has only the CPU backend; set TANDEM_BACKEND=cpu (spec.engine.backend: cpu)']);
  });
});
