import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelConfigSchema } from '@tandem/schemas';
import { initModel } from './model-init.js';
import { PRESETS, truncatePreset } from './presets.js';
import { fromBf16 } from './prng.js';
import { readSafetensorsHeader, readTensorBytes } from './safetensors-writer.js';
import { tryLoadEngine } from './test-support.js';

const root = mkdtempSync(join(tmpdir(), 'tandem-init-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const engineModule = await tryLoadEngine();

function f32(buf: Buffer): Float32Array {
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

function stats(values: ArrayLike<number>): { mean: number; std: number } {
  let s = 0, q = 0;
  for (let i = 0; i < values.length; i++) { s += values[i]!; q += values[i]! * values[i]!; }
  const mean = s / values.length;
  return { mean, std: Math.sqrt(q / values.length - mean * mean) };
}

describe('model init', () => {
  it('writes a deterministic tiny checkpoint for a seed, with the fixture init scales', async () => {
    const a = join(root, 'a'), b = join(root, 'b'), c = join(root, 'c');
    await initModel({ preset: PRESETS['cohere2-tiny'], out: a, seed: 7, dtype: 'f32' });
    await initModel({ preset: PRESETS['cohere2-tiny'], out: b, seed: 7, dtype: 'f32' });
    await initModel({ preset: PRESETS['cohere2-tiny'], out: c, seed: 8, dtype: 'f32' });
    const bytes = (d: string) => readFileSync(join(d, 'model.safetensors'));
    expect(bytes(a).equals(bytes(b))).toBe(true);
    expect(bytes(a).equals(bytes(c))).toBe(false);
    const config = ModelConfigSchema.parse(JSON.parse(readFileSync(join(a, 'config.json'), 'utf8')));
    expect(config.layer_types).toHaveLength(8);

    const file = join(a, 'model.safetensors');
    const emb = stats(f32(await readTensorBytes(file, 'model.embed_tokens.weight')));
    expect(Math.abs(emb.mean)).toBeLessThan(0.01);
    expect(emb.std).toBeCloseTo(0.25, 2);
    const q = stats(f32(await readTensorBytes(file, 'model.layers.0.self_attn.q_proj.weight')));
    expect(q.std).toBeCloseTo(2 / Math.sqrt(64), 1);
    const down = stats(f32(await readTensorBytes(file, 'model.layers.0.mlp.down_proj.weight')));
    expect(down.std).toBeCloseTo(2 / Math.sqrt(160), 1);
    const norm = stats(f32(await readTensorBytes(file, 'model.norm.weight')));
    expect(norm.mean).toBeGreaterThan(3.5);
    expect(norm.mean).toBeLessThan(4.5);
  });

  it('refuses to overwrite a model unless forced', async () => {
    const d = join(root, 'a');
    await expect(initModel({ preset: PRESETS['cohere2-tiny'], out: d, seed: 7, dtype: 'f32' })).rejects.toThrow(/already holds a model.*--force/);
  });

  it('writes bf16, sharded with an index when over the shard limit, same values as f32 (rounded)', async () => {
    const d = join(root, 'bf16');
    const r = await initModel({ preset: PRESETS['cohere2-tiny'], out: d, seed: 7, dtype: 'bf16', maxShardBytes: 300_000 });
    expect(r.files.length).toBeGreaterThan(1);
    const index = JSON.parse(readFileSync(join(d, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(369_216 * 2);
    expect(Object.keys(index.weight_map)).toHaveLength(66);
    const name = 'model.layers.2.mlp.up_proj.weight';
    const shard = join(d, index.weight_map[name]);
    expect((await readSafetensorsHeader(shard)).tensors[name]!.dtype).toBe('BF16');
    const bf = await readTensorBytes(shard, name);
    const ref = f32(await readTensorBytes(join(root, 'a', 'model.safetensors'), name));
    for (let i = 0; i < 50; i++) {
      const v = fromBf16(bf.readUInt16LE(2 * i));
      expect(Math.abs(v - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -8);
    }
  });

  it('--layers keeps the first layers identical (values depend on seed and name only)', async () => {
    const d = join(root, 'short');
    await initModel({ preset: truncatePreset(PRESETS['cohere2-tiny'], 4), out: d, seed: 7, dtype: 'f32' });
    const header = await readSafetensorsHeader(join(d, 'model.safetensors'));
    expect(Object.keys(header.tensors).filter((n) => n.includes('.layers.3.'))).toHaveLength(8);
    expect(Object.keys(header.tensors).some((n) => n.includes('.layers.4.'))).toBe(false);
    const name = 'model.layers.3.self_attn.k_proj.weight';
    const short = await readTensorBytes(join(d, 'model.safetensors'), name);
    const full = await readTensorBytes(join(root, 'a', 'model.safetensors'), name);
    expect(short.equals(full)).toBe(true);
  });

  it.skipIf(!engineModule)('writes models the engine loads, f32 and sharded bf16, with logits that are not flat', async () => {
    for (const dir of [join(root, 'a'), join(root, 'bf16')]) {
      const engine = await engineModule!.Engine.load({ modelDir: dir, threads: 1 });
      try {
        expect(engine.info.numLayers).toBe(8);
        const [row] = await engine.logits([5, 17, 300, 2]);
        const s = stats(row!);
        expect(Array.from(row!).every(Number.isFinite)).toBe(true);
        expect(s.std).toBeGreaterThan(0.5);
      } finally {
        await engine.close();
      }
    }
  });
});
