// Model presets for `tandem model init`, plus the parameter and tensor arithmetic around them.
import { specialTokenIds } from '@tandem/chat';
import { type ModelPreset, type ModelPresetName, ModelPresetSchema } from '@tandem/schemas';

/** bos/eos/pad as the preset's tokenizer places them (real ids at vocab 256000, top of the vocab
 * for small presets); eos is <|END_OF_TURN_TOKEN|>, where a chat turn ends, as in Command models. */
function tokenIds(vocabSize: number): { bos_token_id: number; eos_token_id: number; pad_token_id: number } {
  const ids = specialTokenIds(vocabSize);
  const id = (name: string): number => {
    const v = ids.get(name);
    if (v === undefined) throw new Error(`special token ${name} missing for vocab ${vocabSize}`);
    return v;
  };
  return { bos_token_id: id('<BOS_TOKEN>'), eos_token_id: id('<|END_OF_TURN_TOKEN|>'), pad_token_id: id('<PAD>') };
}
const commonMath = { rope_theta: 50000, logit_scale: 0.25, layer_norm_eps: 1e-5 } as const;

export const PRESETS: Readonly<Record<ModelPresetName, ModelPreset>> = {
  // Exactly the shape of native/tests/fixtures/cohere2-tiny (HF golden fixture).
  'cohere2-tiny': ModelPresetSchema.parse({
    name: 'cohere2-tiny', description: 'the shape of the shared HF golden fixture (369,216 parameters)',
    vocab_size: 384, hidden_size: 64, num_hidden_layers: 8, num_attention_heads: 4, num_key_value_heads: 2,
    intermediate_size: 160, sliding_window: 6, max_position_embeddings: 256, ...commonMath,
    ...tokenIds(384), default_dtype: 'f32',
  }),
  // ~100.7M parameters: big enough that decode is memory-bound, small enough to build in seconds.
  'cohere2-small': ModelPresetSchema.parse({
    name: 'cohere2-small', description: 'benchmark/demo model, 100,673,280 parameters (GQA 3:1)',
    vocab_size: 32768, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, num_key_value_heads: 4,
    intermediate_size: 2048, sliding_window: 256, max_position_embeddings: 4096, ...commonMath,
    ...tokenIds(32768), default_dtype: 'f32',
  }),
  'command-r7b': ModelPresetSchema.parse({
    name: 'command-r7b', description: 'Command R7B 12-2024 shape (8.03B parameters)',
    vocab_size: 256000, hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
    intermediate_size: 14336, sliding_window: 4096, max_position_embeddings: 131072, ...commonMath,
    ...tokenIds(256000), default_dtype: 'bf16',
  }),
  'command-a': ModelPresetSchema.parse({
    name: 'command-a', description: 'Command A 03-2025 shape (111.06B parameters)',
    vocab_size: 256000, hidden_size: 12288, num_hidden_layers: 64, num_attention_heads: 96, num_key_value_heads: 8,
    intermediate_size: 36864, sliding_window: 4096, max_position_embeddings: 131072, ...commonMath,
    ...tokenIds(256000), default_dtype: 'bf16',
  }),
};

/** Layer i is sliding iff (i+1) % 4 != 0: three sliding layers, then one full layer. */
export function presetLayerTypes(numLayers: number): ('sliding_attention' | 'full_attention')[] {
  return Array.from({ length: numLayers }, (_, i) => ((i + 1) % 4 !== 0 ? 'sliding_attention' : 'full_attention'));
}

/** A preset with its depth cut to `layers` (keeps the 3:1 rule, since layer types follow the index). */
export function truncatePreset(preset: ModelPreset, layers: number | undefined): ModelPreset {
  if (layers === undefined || layers === preset.num_hidden_layers) return preset;
  if (!Number.isInteger(layers) || layers < 1 || layers > preset.num_hidden_layers) {
    throw new RangeError(`--layers must be an integer in [1, ${preset.num_hidden_layers}] for ${preset.name}, got ${layers}`);
  }
  return { ...preset, num_hidden_layers: layers };
}

export type TensorKind = 'embedding' | 'norm' | 'final_norm' | 'linear';

export interface TensorSpec {
  name: string;
  shape: number[];
  kind: TensorKind;
  /** Gain g in N(0, (g/√fan_in)²) for linear layers (fixture README: 2 for q/k/o/down, 1 for v/gate/up). */
  gain: number;
}

/** Every tensor of the checkpoint with HF names, sorted by name (the order safetensors writes). */
export function tensorSpecs(p: ModelPreset): TensorSpec[] {
  const d = p.hidden_size / p.num_attention_heads;
  const H = p.hidden_size;
  const specs: TensorSpec[] = [
    { name: 'model.embed_tokens.weight', shape: [p.vocab_size, H], kind: 'embedding', gain: 0 },
    { name: 'model.norm.weight', shape: [H], kind: 'final_norm', gain: 0 },
  ];
  for (let i = 0; i < p.num_hidden_layers; i++) {
    const l = `model.layers.${i}`;
    specs.push(
      { name: `${l}.input_layernorm.weight`, shape: [H], kind: 'norm', gain: 0 },
      { name: `${l}.self_attn.q_proj.weight`, shape: [p.num_attention_heads * d, H], kind: 'linear', gain: 2 },
      { name: `${l}.self_attn.k_proj.weight`, shape: [p.num_key_value_heads * d, H], kind: 'linear', gain: 2 },
      { name: `${l}.self_attn.v_proj.weight`, shape: [p.num_key_value_heads * d, H], kind: 'linear', gain: 1 },
      { name: `${l}.self_attn.o_proj.weight`, shape: [H, p.num_attention_heads * d], kind: 'linear', gain: 2 },
      { name: `${l}.mlp.gate_proj.weight`, shape: [p.intermediate_size, H], kind: 'linear', gain: 1 },
      { name: `${l}.mlp.up_proj.weight`, shape: [p.intermediate_size, H], kind: 'linear', gain: 1 },
      { name: `${l}.mlp.down_proj.weight`, shape: [H, p.intermediate_size], kind: 'linear', gain: 2 },
    );
  }
  return specs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Parameters (tied head counted once). */
export function parameterCount(p: ModelPreset): number {
  return tensorSpecs(p).reduce((sum, t) => sum + elementCount(t.shape), 0);
}

/** The HF config.json for a preset, with layer_types like transformers writes them. */
export function presetConfigJson(p: ModelPreset, dtype: 'f32' | 'bf16'): Record<string, unknown> {
  return {
    architectures: ['Cohere2ForCausalLM'],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: p.bos_token_id,
    eos_token_id: p.eos_token_id,
    head_dim: p.hidden_size / p.num_attention_heads,
    hidden_act: 'silu',
    hidden_size: p.hidden_size,
    initializer_range: 0.02,
    intermediate_size: p.intermediate_size,
    layer_norm_eps: p.layer_norm_eps,
    layer_types: presetLayerTypes(p.num_hidden_layers),
    logit_scale: p.logit_scale,
    max_position_embeddings: p.max_position_embeddings,
    model_type: 'cohere2',
    num_attention_heads: p.num_attention_heads,
    num_hidden_layers: p.num_hidden_layers,
    num_key_value_heads: p.num_key_value_heads,
    pad_token_id: p.pad_token_id,
    rope_scaling: null,
    rope_theta: p.rope_theta,
    sliding_window: p.sliding_window,
    tie_word_embeddings: true,
    torch_dtype: dtype === 'bf16' ? 'bfloat16' : 'float32',
    use_cache: true,
    vocab_size: p.vocab_size,
  };
}
