// Where the CLI keeps what it creates: .tandem/ in the repository root (gitignored).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ModelPresetName } from '@tandem/schemas';
import { initModel } from './model-init.js';
import { logLine } from './output.js';
import { PRESETS } from './presets.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function modelCacheDir(): string {
  return join(REPO_ROOT, '.tandem', 'models');
}

/** The cached preset model folder, written once (seed 0, the preset's default dtype) when missing. */
export async function ensureCachedModel(name: ModelPresetName): Promise<string> {
  const dir = join(modelCacheDir(), name);
  const complete = join(dir, '.complete');
  if (existsSync(complete)) return dir;
  logLine(`creating ${name} in ${dir} (once)`);
  const preset = PRESETS[name];
  await initModel({ preset, out: dir, seed: 0, dtype: preset.default_dtype, force: true, log: logLine });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(complete, `${new Date().toISOString()}\n`);
  return dir;
}
