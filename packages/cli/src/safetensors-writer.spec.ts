import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type TensorSource, buildHeader, planShards, readSafetensorsHeader, readTensorBytes, writeCheckpoint, writeSafetensorsFile,
} from './safetensors-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'tandem-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tensor whose float32 values are start, start+1, ... delivered in chunks of `chunk` elements. */
function ramp(name: string, shape: number[], start: number, chunk = 3): TensorSource {
  const n = shape.reduce((a, b) => a * b, 1);
  return {
    name, dtype: 'F32', shape,
    *chunks() {
      for (let i = 0; i < n; i += chunk) {
        const part = Float32Array.from({ length: Math.min(chunk, n - i) }, (_, j) => start + i + j);
        yield new Uint8Array(part.buffer);
      }
    },
  };
}

describe('safetensors writer', () => {
  it('round-trips: header parses, 8-byte aligned, offsets contiguous, bytes exact', async () => {
    const tensors = [ramp('a.weight', [2, 3], 0), ramp('b.weight', [5], 100), ramp('c', [1, 1, 7], -50, 4)];
    const file = join(dir, 'one.safetensors');
    const bytes = await writeSafetensorsFile(file, tensors);
    expect(bytes).toBe((6 + 5 + 7) * 4);
    const header = await readSafetensorsHeader(file);
    expect(header.dataStart % 8).toBe(0);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(header.tensors)).toEqual(['a.weight', 'b.weight', 'c']);
    let offset = 0;
    for (const t of tensors) {
      const entry = header.tensors[t.name]!;
      expect(entry.shape).toEqual(t.shape);
      expect(entry.dtype).toBe('F32');
      expect(entry.data_offsets).toEqual([offset, offset + t.shape.reduce((a, b) => a * b, 1) * 4]);
      offset = entry.data_offsets[1];
    }
    expect(statSync(file).size).toBe(header.dataStart + offset);
    const c = await readTensorBytes(file, 'c');
    expect(Array.from(new Float32Array(c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength)))).toEqual(
      [-50, -49, -48, -47, -46, -45, -44]);
  });

  it('pads the JSON header with spaces to a multiple of 8', () => {
    const h = buildHeader([ramp('x', [1], 0)]);
    const len = Number(h.readBigUInt64LE(0));
    expect(len % 8).toBe(0);
    expect(h.length).toBe(8 + len);
    expect(JSON.parse(h.subarray(8).toString('utf8')).x.data_offsets).toEqual([0, 4]);
  });

  it('rejects a source that yields the wrong number of bytes, naming the tensor', async () => {
    const bad: TensorSource = { name: 'short', dtype: 'F32', shape: [4], *chunks() { yield new Uint8Array(8); } };
    await expect(writeSafetensorsFile(join(dir, 'bad.safetensors'), [bad])).rejects.toThrow(/tensor short: wrote 8 bytes, its shape needs 16/);
    await expect(writeSafetensorsFile(join(dir, 'dup.safetensors'), [ramp('d', [1], 0), ramp('d', [1], 0)])).rejects.toThrow(/duplicate tensor name d/);
  });

  it('plans shards greedily; an oversized tensor gets its own shard', () => {
    const t = (n: number) => ({ dtype: 'F32' as const, shape: [n] });
    const shards = planShards([t(10), t(10), t(30), t(100), t(5)], 100);
    expect(shards.map((s) => s.map((x) => x.shape[0]))).toEqual([[10, 10], [30], [100], [5]]);
  });

  it('writes sharded checkpoints with an index consistent with the shard headers', async () => {
    const out = mkdtempSync(join(dir, 'sharded-'));
    const tensors = [ramp('m.a', [10], 0), ramp('m.b', [20], 10), ramp('m.c', [5], 30), ramp('m.d', [12], 40)];
    const result = await writeCheckpoint(out, tensors, { maxShardBytes: 100, totalParameters: 47 });
    expect(result.files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata).toEqual({ total_size: 47 * 4, total_parameters: 47 });
    expect(Object.keys(index.weight_map).sort()).toEqual(['m.a', 'm.b', 'm.c', 'm.d']);
    let total = 0;
    for (const file of result.files) {
      const header = await readSafetensorsHeader(join(out, file));
      for (const [name, entry] of Object.entries(header.tensors)) {
        expect(index.weight_map[name]).toBe(file);
        total += entry.data_offsets[1] - entry.data_offsets[0];
      }
    }
    expect(total).toBe(index.metadata.total_size);
  });

  it('writes a single model.safetensors (no index) when everything fits', async () => {
    const out = mkdtempSync(join(dir, 'single-'));
    const result = await writeCheckpoint(out, [ramp('x', [3], 0)]);
    expect(result).toEqual({ files: ['model.safetensors'], totalBytes: 12 });
  });
});
