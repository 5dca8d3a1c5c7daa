// Loads @tandem/engine lazily (commands that do not run a model must work without the native build)
// and maps the snake_case request schemas onto the binding's camelCase types.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine, EngineOptions, GenerateRequest as EngineRequest, SamplingParams as EngineSampling } from '@tandem/engine';
import { type GenerateRequest, type ModelConfig, ModelConfigSchema, type SamplingParams, zodIssueLines } from '@tandem/schemas';
import { logLine } from './output.js';

export type EngineModule = typeof import('@tandem/engine');

let cached: Promise<EngineModule> | undefined;

export function loadEngineModule(): Promise<EngineModule> {
  cached ??= import('@tandem/engine').catch((e: unknown) => {
    cached = undefined;
    throw new Error(
      `the native engine @tandem/engine could not be loaded (${(e as Error).message.split('\n')[0]}); ` +
        'build it with `npm run build` in the repository root',
    );
  });
  return cached;
}

/** Loads a model, reporting progress on stderr when `verbose`. */
export async function openEngine(options: Omit<EngineOptions, 'onProgress'>, verbose = false): Promise<Engine> {
  const { Engine } = await loadEngineModule();
  let lastStage = '';
  let lastQuarter = -1;
  return Engine.load({
    ...options,
    // one line per stage and per quarter of progress: enough to see it move, not a flood
    onProgress: verbose
      ? (fraction, stage) => {
          const quarter = Math.floor(fraction * 4);
          if (stage === lastStage && quarter === lastQuarter) return;
          logLine(`  loading: ${stage} ${Math.round(fraction * 100)}%`);
          lastStage = stage;
          lastQuarter = quarter;
        }
      : undefined,
  });
}

export function toEngineSampling(s: SamplingParams | undefined): EngineSampling | undefined {
  if (!s) return undefined;
  const out: EngineSampling = {};
  if (s.temperature !== undefined) out.temperature = s.temperature;
  if (s.top_k !== undefined) out.topK = s.top_k;
  if (s.top_p !== undefined) out.topP = s.top_p;
  if (s.min_p !== undefined) out.minP = s.min_p;
  if (s.repetition_penalty !== undefined) out.repetitionPenalty = s.repetition_penalty;
  if (s.frequency_penalty !== undefined) out.frequencyPenalty = s.frequency_penalty;
  if (s.presence_penalty !== undefined) out.presencePenalty = s.presence_penalty;
  if (s.seed !== undefined) out.seed = s.seed;
  if (s.top_logprobs !== undefined) out.topLogprobs = s.top_logprobs;
  return out;
}

export function toEngineRequest(r: GenerateRequest): EngineRequest {
  const out: EngineRequest = { prompt: r.tokens, maxTokens: r.max_tokens };
  const sampling = toEngineSampling(r.sampling);
  if (sampling) out.sampling = sampling;
  if (r.stop_token_ids) out.stopTokenIds = r.stop_token_ids;
  if (r.ignore_eos !== undefined) out.ignoreEos = r.ignore_eos;
  if (r.priority !== undefined) out.priority = r.priority;
  return out;
}

/** Reads DIR/config.json through ModelConfigSchema; errors name the file and every bad field. */
export async function readModelConfig(dir: string): Promise<ModelConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); is --model a model folder?`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const r = ModelConfigSchema.safeParse(json);
  if (!r.success) throw new Error(`${file}:\n  ${zodIssueLines(r.error).join('\n  ')}`);
  return r.data;
}

/** Engine errors with code INVALID_ARGUMENT are the caller's bad input (exit 2 like bad flags). */
export function isInvalidArgument(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'INVALID_ARGUMENT';
}
