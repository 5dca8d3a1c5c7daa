// Library surface of @tandem/cli (the command itself starts in main.ts).
export { PRESETS, parameterCount, presetConfigJson, presetLayerTypes, tensorSpecs, truncatePreset } from './presets.js';
export type { TensorSpec } from './presets.js';
export { initModel, randomTensor } from './model-init.js';
export type { InitOptions, InitResult } from './model-init.js';
export { planKv } from './kv-plan.js';
export type { KvPlan, KvShape } from './kv-plan.js';
export {
  buildHeader, planShards, readSafetensorsHeader, writeCheckpoint, writeSafetensorsFile,
} from './safetensors-writer.js';
export type { TensorSource } from './safetensors-writer.js';
export { parseBatchFile, runBatch } from './batch.js';
export { ensureCachedModel, modelCacheDir } from './paths.js';
export { startLocalStack } from './commands/up.js';
export type { LocalStack, LocalStackOptions } from './commands/up.js';
