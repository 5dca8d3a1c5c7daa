// Cohere Chat v2 sampling fields → engine sampling, with Cohere's documented defaults
// (temperature 0.3, p 0.75, k 0 = off).
import type { engineV1 } from '@tandem/proto';
import type { ChatRequest } from '@tandem/schemas';

export function cohereSampling(req: ChatRequest): Partial<engineV1.SamplingParams> {
  return {
    temperature: req.temperature ?? 0.3,
    topP: req.p ?? 0.75,
    ...(req.k !== undefined && req.k > 0 ? { topK: req.k } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    ...(req.frequency_penalty !== undefined ? { frequencyPenalty: req.frequency_penalty } : {}),
    ...(req.presence_penalty !== undefined ? { presencePenalty: req.presence_penalty } : {}),
  };
}
