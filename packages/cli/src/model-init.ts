// `tandem model init`: a random-weight HF checkpoint for a preset, written tensor by tensor.
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeTokenizerFiles } from '@tandem/chat';
import type { ModelPreset, WeightDtype } from '@tandem/schemas';
import { NormalStream, toBf16 } from './prng.js';
import { type TensorSpec, elementCount, parameterCount, presetConfigJson, tensorSpecs } from './presets.js';
import { type TensorSource, type WrittenCheckpoint, writeCheckpoint } from './safetensors-writer.js';

const CHUNK_ELEMENTS = 1 << 20;

export interface InitOptions {
  preset: ModelPreset;
  out: string;
  seed: number;
  dtype: WeightDtype;
  /** Tests shrink this to exercise sharding; default 2 GiB. */
  maxShardBytes?: number;
  /** Overwrite a folder that already holds a model. */
  force?: boolean;
  log?: (line: string) => void;
}

export interface InitResult extends WrittenCheckpoint {
  dir: string;
  parameters: number;
  tokenizer: 'written';
}

/** Mean and std of a tensor's init (fixture README): embeddings N(0,0.25²), linear N(0,(g/√fan_in)²), norms 1+0.2·N. */
function initDistribution(spec: TensorSpec): { mean: number; std: number; scale: number } {
  switch (spec.kind) {
    case 'embedding': return { mean: 0, std: 0.25, scale: 1 };
    case 'norm': return { mean: 1, std: 0.2, scale: 1 };
    case 'final_norm': return { mean: 1, std: 0.2, scale: 4 };
    case 'linear': return { mean: 0, std: spec.gain / Math.sqrt(spec.shape[1]!), scale: 1 };
  }
}

/** A lazily generated tensor: values depend only on (seed, name), never on order or sharding. */
export function randomTensor(spec: TensorSpec, seed: number, dtype: WeightDtype): TensorSource {
  return {
    name: spec.name,
    dtype: dtype === 'bf16' ? 'BF16' : 'F32',
    shape: spec.shape,
    *chunks() {
      const { mean, std, scale } = initDistribution(spec);
      const stream = new NormalStream(seed, spec.name);
      const total = elementCount(spec.shape);
      const f32 = new Float32Array(Math.min(CHUNK_ELEMENTS, total));
      const u16 = dtype === 'bf16' ? new Uint16Array(f32.length) : undefined;
      // Buffers are reused: the writer awaits each write before asking for the next chunk.
      for (let done = 0; done < total; done += f32.length) {
        const n = Math.min(f32.length, total - done);
        const view = f32.subarray(0, n);
        stream.fill(view, mean * scale, std * scale);
        if (u16) {
          const out = u16.subarray(0, n);
          toBf16(view, out);
          yield new Uint8Array(out.buffer, 0, n * 2);
        } else {
          yield new Uint8Array(view.buffer, 0, n * 4);
        }
      }
    },
  };
}

export async function initModel(options: InitOptions): Promise<InitResult> {
  const { preset, out, seed, dtype } = options;
  const log = options.log ?? (() => {});
  if (existsSync(join(out, 'config.json')) && !options.force) {
    throw new Error(`${out} already holds a model (config.json); pass --force to overwrite it`);
  }
  await mkdir(out, { recursive: true });
  if (options.force) {
    // stale shards from an earlier, differently sharded write would confuse loaders
    const stale = readdirSync(out).filter((f) => f.endsWith('.safetensors') || f === 'model.safetensors.index.json');
    for (const f of stale) await rm(join(out, f));
  }
  const specs = tensorSpecs(preset);
  const parameters = parameterCount(preset);
  const bytes = parameters * (dtype === 'bf16' ? 2 : 4);
  const fs = await statfs(out);
  const free = fs.bavail * fs.bsize;
  if (bytes > free) {
    throw new Error(`${preset.name} (${preset.num_hidden_layers} layers, ${dtype}) needs ${(bytes / 1e9).toFixed(2)} GB ` +
      `but ${out} has ${(free / 1e9).toFixed(2)} GB free; try --layers K${dtype === 'f32' ? ' or --dtype bf16' : ''}`);
  }
  log(`writing ${preset.name}: ${parameters.toLocaleString('en-US')} parameters, ${dtype}, ${(bytes / 1e6).toFixed(1)} MB → ${out}`);

  const config = presetConfigJson(preset, dtype);
  await writeFile(join(out, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  await writeFile(join(out, 'generation_config.json'), `${JSON.stringify({
    bos_token_id: preset.bos_token_id, eos_token_id: preset.eos_token_id, pad_token_id: preset.pad_token_id,
  }, null, 2)}\n`);

  let done = 0;
  let lastPct = -1;
  const written = await writeCheckpoint(out, specs.map((s) => randomTensor(s, seed, dtype)), {
    maxShardBytes: options.maxShardBytes,
    totalParameters: parameters,
    onTensor: (_name, n) => {
      done += n;
      const pct = Math.floor((100 * done) / bytes / 10) * 10;
      if (pct !== lastPct && bytes > 64e6) { log(`  ${pct}%`); lastPct = pct; }
    },
  });
  // tokenizer.json + tokenizer_config.json (with the chat template) whose special-token ids match
  // the config's bos/eos/pad (presets.ts takes them from the same specialTokenIds table).
  await writeTokenizerFiles(out, { vocabSize: preset.vocab_size, preset: preset.name });
  return { ...written, dir: out, parameters, tokenizer: 'written' };
}
