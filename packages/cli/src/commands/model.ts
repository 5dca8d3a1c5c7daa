// `tandem model init`, `tandem model plan` and `tandem model fetch`.
import { z } from 'zod';
import { type ModelPreset, ModelPresetNameSchema, headDim, resolveLayerTypes } from '@tandem/schemas';
import { UsageError, intFlag, parseFlags, validateFlags } from '../args.js';
import { readModelConfig } from '../engine.js';
import { type KvDtype, type KvShape, planKv } from '../kv-plan.js';
import { fetchModel, parseModelUri } from '../model-fetch.js';
import { initModel } from '../model-init.js';
import { logLine, printJson } from '../output.js';
import { PRESETS, presetLayerTypes, truncatePreset } from '../presets.js';

const PRESET_NAMES = ModelPresetNameSchema.options.join('|');

export const MODEL_USAGE = `usage:
  tandem model init --preset ${PRESET_NAMES} --out DIR [--seed S] [--dtype f32|bf16] [--layers K] [--force]
  tandem model plan (--model DIR | --preset NAME) --context L [--dtype f32|bf16|f16] [--block-size B] [--layers K]
  tandem model fetch --uri (hf://OWNER/NAME[@REVISION] | https://HOST/FOLDER) --out DIR [--tokenizer-only]   (env HF_ENDPOINT, HF_TOKEN)`;

export async function runModelCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'init') return runInit(rest);
  if (sub === 'plan') return runPlan(rest);
  if (sub === 'fetch') return runFetch(rest);
  throw new UsageError(sub ? `unknown subcommand "model ${sub}"` : 'missing subcommand (init, plan or fetch)', MODEL_USAGE);
}

const presetName = z.enum(ModelPresetNameSchema.options, { message: `must be one of ${ModelPresetNameSchema.options.join(', ')}` });

const InitFlags = z.strictObject({
  help: z.boolean().optional(),
  preset: presetName,
  out: z.string({ message: 'is required (the folder to write)' }).min(1),
  seed: intFlag(0).optional(),
  dtype: z.enum(['f32', 'bf16'], { message: 'must be f32 or bf16' }).optional(),
  layers: intFlag(1).optional(),
  force: z.boolean().optional(),
});

async function runInit(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    preset: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' }, dtype: { type: 'string' },
    layers: { type: 'string' }, force: { type: 'boolean' },
  }, MODEL_USAGE);
  if (parsed.values.help) { logLine(MODEL_USAGE); return 0; }
  const flags = validateFlags(InitFlags, parsed.values, MODEL_USAGE);
  const preset = withLayers(PRESETS[flags.preset], flags.layers);
  const dtype = flags.dtype ?? preset.default_dtype;
  const started = Date.now();
  const result = await initModel({ preset, out: flags.out, seed: flags.seed ?? 0, dtype, force: flags.force, log: logLine });
  logLine(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  printJson({
    dir: result.dir, preset: preset.name, dtype, seed: flags.seed ?? 0, layers: preset.num_hidden_layers,
    parameters: result.parameters, bytes: result.totalBytes, files: result.files,
    index: result.indexFile ?? null, tokenizer: result.tokenizer,
  });
  return 0;
}

function withLayers(preset: ModelPreset, layers: number | undefined): ModelPreset {
  try {
    return truncatePreset(preset, layers);
  } catch (e) {
    throw new UsageError((e as Error).message, MODEL_USAGE);
  }
}

const PlanFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  preset: presetName.optional(),
  context: intFlag(1),
  dtype: z.enum(['f32', 'bf16', 'f16'], { message: 'must be f32, bf16 or f16' }).optional(),
  'block-size': intFlag(1).optional(),
  layers: intFlag(1).optional(),
}).superRefine((f, ctx) => {
  if ((f.model === undefined) === (f.preset === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['model'], message: 'give exactly one of --model DIR or --preset NAME' });
  }
  if (f.layers !== undefined && f.preset === undefined) {
    ctx.addIssue({ code: 'custom', path: ['layers'], message: 'only applies with --preset' });
  }
});

function dtypeFromConfig(torchDtype: string | undefined): KvDtype {
  if (torchDtype === 'bfloat16') return 'bf16';
  if (torchDtype === 'float16') return 'f16';
  return 'f32';
}

async function runPlan(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    model: { type: 'string' }, preset: { type: 'string' }, context: { type: 'string' }, dtype: { type: 'string' },
    'block-size': { type: 'string' }, layers: { type: 'string' },
  }, MODEL_USAGE);
  if (parsed.values.help) { logLine(MODEL_USAGE); return 0; }
  const flags = validateFlags(PlanFlags, parsed.values, MODEL_USAGE);
  let shape: KvShape;
  let defaultDtype: KvDtype;
  if (flags.preset) {
    const p = withLayers(PRESETS[flags.preset], flags.layers);
    const types = presetLayerTypes(p.num_hidden_layers);
    const sliding = types.filter((t) => t === 'sliding_attention').length;
    shape = {
      model: p.name, numSlidingLayers: sliding, numFullLayers: types.length - sliding, numKvHeads: p.num_key_value_heads,
      headDim: p.hidden_size / p.num_attention_heads, slidingWindow: p.sliding_window, maxPositionEmbeddings: p.max_position_embeddings,
    };
    defaultDtype = p.default_dtype;
  } else {
    const config = await readModelConfig(flags.model!);
    const types = resolveLayerTypes(config);
    const sliding = types.filter((t) => t === 'sliding_attention').length;
    shape = {
      model: flags.model!, numSlidingLayers: sliding, numFullLayers: types.length - sliding,
      numKvHeads: config.num_key_value_heads ?? config.num_attention_heads, headDim: headDim(config),
      slidingWindow: config.sliding_window, maxPositionEmbeddings: config.max_position_embeddings,
    };
    defaultDtype = dtypeFromConfig(config.torch_dtype ?? config.dtype);
  }
  if (flags.context > shape.maxPositionEmbeddings) {
    logLine(`note: --context ${flags.context} exceeds max_position_embeddings ${shape.maxPositionEmbeddings}`);
  }
  const dtype = flags.dtype ?? defaultDtype;
  printJson(planKv(shape, flags.context, dtype, flags['block-size'] ?? 16));
  return 0;
}

const FetchFlags = z.strictObject({
  help: z.boolean().optional(),
  uri: z.string({ message: 'is required (hf://OWNER/NAME[@REVISION] or an https:// folder URL)' }).superRefine((uri, ctx) => {
    try {
      parseModelUri(uri);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
    }
  }),
  out: z.string({ message: 'is required (the folder to write)' }).min(1, { message: 'must not be empty' }),
  'tokenizer-only': z.boolean().optional(),
});

async function runFetch(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, { uri: { type: 'string' }, out: { type: 'string' }, 'tokenizer-only': { type: 'boolean' } }, MODEL_USAGE);
  if (parsed.values.help) { logLine(MODEL_USAGE); return 0; }
  const flags = validateFlags(FetchFlags, parsed.values, MODEL_USAGE);
  const { HF_ENDPOINT, HF_TOKEN } = process.env;
  printJson(await fetchModel({
    uri: flags.uri, out: flags.out, env: { HF_ENDPOINT, HF_TOKEN }, log: logLine, tokenizerOnly: flags['tokenizer-only'] ?? false,
  }));
  return 0;
}
