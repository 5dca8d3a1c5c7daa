// Cohere2 model shapes: the HF config.json we read and write, and the presets `tandem model init` offers.
import { z } from 'zod';

export const LayerTypeSchema = z.enum(['sliding_attention', 'full_attention']);
export type LayerType = z.infer<typeof LayerTypeSchema>;

export const WeightDtypeSchema = z.enum(['f32', 'bf16']);
export type WeightDtype = z.infer<typeof WeightDtypeSchema>;

export const ModelPresetNameSchema = z.enum(['cohere2-tiny', 'cohere2-small', 'command-r7b', 'command-a']);
export type ModelPresetName = z.infer<typeof ModelPresetNameSchema>;

const posInt = () => z.int().min(1, { message: 'must be an integer >= 1' });
const idInt = () => z.int().min(0, { message: 'must be an integer >= 0' });
const posFinite = () => z.number().refine(Number.isFinite, { message: 'must be finite' }).refine((v) => v > 0, { message: 'must be > 0' });

/**
 * A Cohere2 config.json as transformers writes it. Loose on purpose: real checkpoints carry many
 * keys we do not use (architectures, transformers_version, ...); the fields the math needs are
 * checked strictly.
 */
export const ModelConfigSchema = z
  .looseObject({
    model_type: z.literal('cohere2', { message: 'only model_type "cohere2" is supported' }),
    vocab_size: posInt(),
    hidden_size: posInt(),
    num_hidden_layers: posInt(),
    num_attention_heads: posInt(),
    /** Defaults to num_attention_heads when absent (transformers' rule). */
    num_key_value_heads: posInt().optional(),
    intermediate_size: posInt(),
    sliding_window: posInt(),
    /** Authoritative when present: one entry per layer. */
    layer_types: z.array(LayerTypeSchema).optional(),
    sliding_window_pattern: posInt().optional(),
    _sliding_window_pattern: posInt().optional(),
    max_position_embeddings: posInt(),
    rope_theta: posFinite().optional(),
    logit_scale: posFinite().optional(),
    layer_norm_eps: posFinite().optional(),
    bos_token_id: idInt().optional(),
    eos_token_id: z.union([idInt(), z.array(idInt())]).optional(),
    pad_token_id: idInt().optional(),
    tie_word_embeddings: z.boolean().optional(),
    torch_dtype: z.string().optional(),
    dtype: z.string().optional(),
  })
  .superRefine((c, ctx) => {
    if (c.hidden_size % c.num_attention_heads !== 0) {
      ctx.addIssue({ code: 'custom', path: ['num_attention_heads'], message: `must divide hidden_size ${c.hidden_size}` });
    }
    const nkv = c.num_key_value_heads ?? c.num_attention_heads;
    if (c.num_attention_heads % nkv !== 0) {
      ctx.addIssue({ code: 'custom', path: ['num_key_value_heads'], message: `must divide num_attention_heads ${c.num_attention_heads}` });
    }
    if (c.layer_types && c.layer_types.length !== c.num_hidden_layers) {
      ctx.addIssue({
        code: 'custom',
        path: ['layer_types'],
        message: `has ${c.layer_types.length} entries, num_hidden_layers is ${c.num_hidden_layers}`,
      });
    }
    if (c.tie_word_embeddings === false) {
      ctx.addIssue({ code: 'custom', path: ['tie_word_embeddings'], message: 'Cohere2 ties the LM head to the embeddings' });
    }
  });
export type ModelConfig = z.infer<typeof ModelConfigSchema>;

/** Layer kinds: `layer_types` when present, else layer i is sliding iff (i+1) % pattern != 0 (pattern default 4). */
export function resolveLayerTypes(config: ModelConfig): LayerType[] {
  if (config.layer_types) return [...config.layer_types];
  const pattern = config.sliding_window_pattern ?? config._sliding_window_pattern ?? 4;
  return Array.from({ length: config.num_hidden_layers }, (_, i) =>
    (i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention',
  );
}

/** head_dim as transformers computes it (hidden_size / num_attention_heads; a head_dim key is ignored). */
export function headDim(config: ModelConfig): number {
  return config.hidden_size / config.num_attention_heads;
}

/** The shape of a preset `tandem model init` can write. */
export const ModelPresetSchema = z.strictObject({
  name: ModelPresetNameSchema,
  description: z.string(),
  vocab_size: posInt(),
  hidden_size: posInt(),
  num_hidden_layers: posInt(),
  num_attention_heads: posInt(),
  num_key_value_heads: posInt(),
  intermediate_size: posInt(),
  sliding_window: posInt(),
  max_position_embeddings: posInt(),
  rope_theta: posFinite(),
  logit_scale: posFinite(),
  layer_norm_eps: posFinite(),
  bos_token_id: idInt(),
  eos_token_id: idInt(),
  pad_token_id: idInt(),
  /** Weight dtype written when --dtype is not given. */
  default_dtype: WeightDtypeSchema,
});
export type ModelPreset = z.infer<typeof ModelPresetSchema>;
