// Engine construction options (camelCase: they mirror @tandem/engine's EngineOptions one to one).
import { z } from 'zod';

const positiveInt = (what: string) => z.int().min(1, { message: `${what} must be an integer >= 1` });

export const EngineOptionsSchema = z.strictObject({
  /** HF model folder (config.json + safetensors). */
  modelDir: z.string().min(1, { message: 'must be a folder path' }),
  /** Kernel threads; default TANDEM_THREADS, else cores. */
  threads: positiveInt('threads').optional(),
  /** KV block size in positions; default 16. */
  blockSize: positiveInt('blockSize').optional(),
  /** Budget for both KV pools in bytes; default 512 MiB. */
  kvMemoryBytes: positiveInt('kvMemoryBytes').optional(),
  /** Tokens computed per engine step; default 512. */
  maxBatchTokens: positiveInt('maxBatchTokens').optional(),
  /** Sequences running at once; default 64. */
  maxRunning: positiveInt('maxRunning').optional(),
  /** Prompt + output limit; default max_position_embeddings. */
  maxSeqLen: positiveInt('maxSeqLen').optional(),
});
export type EngineOptions = z.infer<typeof EngineOptionsSchema>;
