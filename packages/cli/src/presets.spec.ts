import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { specialTokenIds } from '@tandem/chat';
import { ModelConfigSchema, resolveLayerTypes } from '@tandem/schemas';
import { PRESETS, parameterCount, presetConfigJson, presetLayerTypes, tensorSpecs, truncatePreset } from './presets.js';
import { readSafetensorsHeader } from './safetensors-writer.js';

const fixtureDir = fileURLToPath(new URL('../../../native/tests/fixtures/cohere2-tiny/', import.meta.url));

describe('presets', () => {
  it('cohere2-tiny has exactly the fixture shape: config fields, tensor names and shapes', async () => {
    const fixture = JSON.parse(readFileSync(`${fixtureDir}config.json`, 'utf8'));
    const ours = presetConfigJson(PRESETS['cohere2-tiny'], 'f32');
    for (const key of ['vocab_size', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads',
      'intermediate_size', 'sliding_window', 'max_position_embeddings', 'rope_theta', 'logit_scale', 'layer_norm_eps',
      'layer_types', 'head_dim', 'model_type']) {
      expect(ours[key], key).toEqual(fixture[key]);
    }
    const header = await readSafetensorsHeader(`${fixtureDir}model.safetensors`);
    const theirs = Object.entries(header.tensors).map(([name, t]) => [name, t.shape]).sort();
    expect(tensorSpecs(PRESETS['cohere2-tiny']).map((t) => [t.name, t.shape])).toEqual(theirs);
    expect(parameterCount(PRESETS['cohere2-tiny'])).toBe(369_216);
  });

  it('every preset config names the bos/eos/pad ids its own tokenizer uses', () => {
    for (const p of Object.values(PRESETS)) {
      const ids = specialTokenIds(p.vocab_size);
      expect([p.bos_token_id, p.eos_token_id, p.pad_token_id], p.name)
        .toEqual([ids.get('<BOS_TOKEN>'), ids.get('<|END_OF_TURN_TOKEN|>'), ids.get('<PAD>')]);
      expect(Math.max(...ids.values()), p.name).toBeLessThan(p.vocab_size);
    }
  });

  it('counts parameters of every preset (tied head counted once)', () => {
    expect(parameterCount(PRESETS['cohere2-small'])).toBe(100_673_280);
    expect(parameterCount(PRESETS['command-r7b'])).toBe(8_028_033_024);
    expect(parameterCount(PRESETS['command-a'])).toBe(111_057_580_032);
  });

  it('real presets carry the Cohere ids, bf16 and GQA heads from the architecture notes', () => {
    for (const name of ['command-r7b', 'command-a'] as const) {
      const p = PRESETS[name];
      expect([p.bos_token_id, p.eos_token_id, p.pad_token_id, p.default_dtype]).toEqual([5, 255001, 0, 'bf16']);
      expect(p.hidden_size / p.num_attention_heads).toBe(128);
      expect([p.num_key_value_heads, p.sliding_window, p.vocab_size]).toEqual([8, 4096, 256000]);
    }
    const small = PRESETS['cohere2-small'];
    expect(small.num_attention_heads / small.num_key_value_heads).toBe(3);
  });

  it('writes configs that the config schema accepts, with the 3:1 pattern', () => {
    for (const p of Object.values(PRESETS)) {
      const config = ModelConfigSchema.parse(presetConfigJson(p, p.default_dtype));
      const types = resolveLayerTypes(config);
      expect(types.filter((t) => t === 'full_attention').length).toBe(Math.floor(p.num_hidden_layers / 4));
      expect(types.at(-1)).toBe('full_attention');
    }
  });

  it('--layers truncates depth and keeps (i+1)%4 as the full-layer rule', () => {
    const a = truncatePreset(PRESETS['command-a'], 6);
    expect(a.num_hidden_layers).toBe(6);
    expect(presetLayerTypes(6)).toEqual(['sliding_attention', 'sliding_attention', 'sliding_attention', 'full_attention',
      'sliding_attention', 'sliding_attention']);
    expect(parameterCount(truncatePreset(PRESETS['command-r7b'], 4))).toBe(256000 * 4096 + 4 * 218_103_808 + 5 * 4096);
    expect(() => truncatePreset(PRESETS['cohere2-tiny'], 9)).toThrow(/--layers must be an integer in \[1, 8\]/);
    expect(() => truncatePreset(PRESETS['cohere2-tiny'], 0)).toThrow(/--layers/);
  });
});
