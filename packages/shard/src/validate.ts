// The engine edge: a decoded tandem.engine.v1.GenerateRequest is checked with zod (every problem,
// with the proto field path) before the engine sees it. A ValidGenerate proves the check ran.
import type { GenerateRequest as EngineRequest, ModelInfo } from '@tandem/engine';
import type { engineV1 } from '@tandem/proto';
import { SamplingParamsSchema, zodIssueLines } from '@tandem/schemas';
import { z } from 'zod';

declare const validBrand: unique symbol;
export type ValidGenerate = { readonly requestId: string; readonly engine: EngineRequest } & { readonly [validBrand]: true };

function schemaFor(info: ModelInfo) {
  const tokenId = z.int().min(0).max(info.vocabSize - 1, { message: `must be a token id < vocab size ${info.vocabSize}` });
  return z
    .object({
      request_id: z.string().max(200, { message: 'must be at most 200 characters' }),
      prompt: z.array(tokenId).min(1, { message: 'must hold at least one token id' }),
      max_tokens: z.int().min(1, { message: 'must be >= 1' }),
      sampling: SamplingParamsSchema.optional(),
      stop_token_ids: z.array(tokenId).max(64, { message: 'at most 64 stop token ids' }),
      ignore_eos: z.boolean(),
      priority: z.int(),
    })
    .superRefine((r, ctx) => {
      if (r.prompt.length + r.max_tokens > info.maxSeqLen) {
        ctx.addIssue({
          code: 'custom',
          path: ['max_tokens'],
          message: `prompt (${r.prompt.length} tokens) + max_tokens (${r.max_tokens}) exceeds the sequence limit ${info.maxSeqLen}`,
        });
      }
    });
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Every issue as "field: message" (proto snake_case names), or the request the engine takes. */
export function validateGenerate(req: engineV1.GenerateRequest, info: ModelInfo): { ok: true; value: ValidGenerate } | { ok: false; issues: string[] } {
  const s = req.sampling;
  const sampling =
    s === undefined
      ? undefined
      : definedOnly({
          temperature: s.temperature,
          top_k: s.topK,
          top_p: s.topP,
          min_p: s.minP,
          repetition_penalty: s.repetitionPenalty,
          frequency_penalty: s.frequencyPenalty,
          presence_penalty: s.presencePenalty,
          seed: s.seed,
          top_logprobs: s.topLogprobs === 0 ? undefined : s.topLogprobs,
        });
  const r = schemaFor(info).safeParse({
    request_id: req.requestId,
    prompt: req.prompt,
    max_tokens: req.maxTokens,
    sampling,
    stop_token_ids: req.stopTokenIds,
    ignore_eos: req.ignoreEos,
    priority: req.priority,
  });
  if (!r.success) return { ok: false, issues: zodIssueLines(r.error) };
  const v = r.data;
  const engine: EngineRequest = {
    prompt: v.prompt,
    maxTokens: v.max_tokens,
    stopTokenIds: v.stop_token_ids,
    ignoreEos: v.ignore_eos,
    priority: v.priority,
    sampling: v.sampling && definedOnly({
      temperature: v.sampling.temperature,
      topK: v.sampling.top_k,
      topP: v.sampling.top_p,
      minP: v.sampling.min_p,
      repetitionPenalty: v.sampling.repetition_penalty,
      frequencyPenalty: v.sampling.frequency_penalty,
      presencePenalty: v.sampling.presence_penalty,
      seed: v.sampling.seed,
      topLogprobs: v.sampling.top_logprobs,
    }),
  };
  return { ok: true, value: { requestId: v.request_id, engine } as ValidGenerate };
}
