// Sampling and generation request shapes (snake_case, as on the wire: Cohere / OpenAI style).
import { z } from 'zod';

const finite = () => z.number().refine(Number.isFinite, { message: 'must be a finite number' });

export const SamplingParamsSchema = z.strictObject({
  /** 0 = greedy. Applied after logit_scale. */
  temperature: finite().min(0, { message: 'must be >= 0' }).optional(),
  /** 0 = disabled. */
  top_k: z.int().min(0, { message: 'must be an integer >= 0' }).optional(),
  top_p: finite().gt(0, { message: 'must be in (0, 1]' }).max(1, { message: 'must be in (0, 1]' }).optional(),
  min_p: finite().min(0, { message: 'must be in [0, 1]' }).max(1, { message: 'must be in [0, 1]' }).optional(),
  repetition_penalty: finite().gt(0, { message: 'must be > 0' }).optional(),
  frequency_penalty: finite().min(-2, { message: 'must be in [-2, 2]' }).max(2, { message: 'must be in [-2, 2]' }).optional(),
  presence_penalty: finite().min(-2, { message: 'must be in [-2, 2]' }).max(2, { message: 'must be in [-2, 2]' }).optional(),
  /** Same seed → same tokens, whatever else is in the batch. */
  seed: z.int().min(0, { message: 'must be an integer >= 0' }).optional(),
  /** Alternatives returned per generated token. */
  top_logprobs: z.int().min(0, { message: 'must be an integer in [0, 20]' }).max(20, { message: 'must be an integer in [0, 20]' }).optional(),
});
export type SamplingParams = z.infer<typeof SamplingParamsSchema>;

export const TokenIdSchema = z.int().min(0, { message: 'token ids are integers >= 0' });

export const GenerateRequestSchema = z.strictObject({
  tokens: z.array(TokenIdSchema).min(1, { message: 'must hold at least one token id' }),
  max_tokens: z.int().min(1, { message: 'must be an integer >= 1' }),
  sampling: SamplingParamsSchema.optional(),
  stop_token_ids: z.array(TokenIdSchema).optional(),
  /** Larger runs first; default 0. */
  priority: z.int().optional(),
  /** Keep going past the model's eos token. */
  ignore_eos: z.boolean().optional(),
});
export type GenerateRequest = z.infer<typeof GenerateRequestSchema>;

/** One line of `tandem generate --batch-file`: a request plus the engine step at which it arrives. */
export const BatchFileLineSchema = GenerateRequestSchema.extend({
  /** Engine step (stats().steps) at which to submit it; default 0 = at once. */
  arrive_step: z.int().min(0, { message: 'must be an integer >= 0' }).optional(),
});
export type BatchFileLine = z.infer<typeof BatchFileLineSchema>;
