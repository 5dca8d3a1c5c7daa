import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatZodError } from './format-zod-error.js';
import { EngineOptionsSchema } from './engine-options.js';
import { ModelConfigSchema, ModelPresetSchema, headDim, resolveLayerTypes } from './model-config.js';

const fixture = fileURLToPath(new URL('../../../native/tests/fixtures/cohere2-tiny/config.json', import.meta.url));

describe('ModelConfigSchema', () => {
  it('parses the HF fixture config and derives its layer pattern', () => {
    const config = ModelConfigSchema.parse(JSON.parse(readFileSync(fixture, 'utf8')));
    expect(headDim(config)).toBe(16);
    const types = resolveLayerTypes(config);
    expect(types.map((t, i) => (t === 'full_attention' ? i : -1)).filter((i) => i >= 0)).toEqual([3, 7]);
  });

  it('derives layer types from sliding_window_pattern when layer_types is absent', () => {
    const base = JSON.parse(readFileSync(fixture, 'utf8'));
    delete base.layer_types;
    base.num_hidden_layers = 6;
    base.sliding_window_pattern = 3;
    const types = resolveLayerTypes(ModelConfigSchema.parse(base));
    expect(types).toEqual(['sliding_attention', 'sliding_attention', 'full_attention',
      'sliding_attention', 'sliding_attention', 'full_attention']);
  });

  it('reports every bad field', () => {
    const r = ModelConfigSchema.safeParse({ model_type: 'llama', vocab_size: 0, hidden_size: 64 });
    expect(r.success).toBe(false);
    const text = formatZodError(r.error!);
    expect(text).toContain('model_type: only model_type "cohere2" is supported');
    expect(text).toContain('vocab_size: must be an integer >= 1');
    for (const field of ['num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'sliding_window', 'max_position_embeddings']) {
      expect(text).toContain(`${field}:`);
    }
  });

  it('checks cross-field rules: heads divide hidden, layer_types length', () => {
    const base = JSON.parse(readFileSync(fixture, 'utf8'));
    const r = ModelConfigSchema.safeParse({ ...base, num_attention_heads: 5, num_key_value_heads: 3, layer_types: ['full_attention'] });
    const text = formatZodError(r.error!);
    expect(text).toContain('num_attention_heads: must divide hidden_size 64');
    expect(text).toContain('num_key_value_heads: must divide num_attention_heads 5');
    expect(text).toContain('layer_types: has 1 entries, num_hidden_layers is 8');
  });
});

describe('ModelPresetSchema / EngineOptionsSchema', () => {
  it('is strict', () => {
    const r = ModelPresetSchema.safeParse({ name: 'gpt2' });
    const text = formatZodError(r.error!);
    expect(text).toContain('name:');
    expect(text).toContain('hidden_size:');
    const e = EngineOptionsSchema.safeParse({ modelDir: '', threads: 0, block_size: 16 });
    expect(formatZodError(e.error!).split('\n').sort()).toEqual([
      'block_size: unknown field', 'modelDir: must be a folder path', 'threads: threads must be an integer >= 1',
    ]);
  });
});
