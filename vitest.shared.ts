// Shared vitest settings: every suite also writes a JSON report that scripts/test.mjs sums up.
import { basename } from 'node:path';
import type { ViteUserConfig } from 'vitest/config';

export function tandemVitest(packageDir: string, overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  const out = process.env.TANDEM_TEST_RESULTS;
  return {
    test: {
      include: ['src/**/*.spec.ts', 'tests/**/*.spec.ts', '*.spec.ts'],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      reporters: out ? ['default', 'json'] : ['default'],
      outputFile: out ? { json: `${out}/vitest-${basename(packageDir)}.json` } : undefined,
      ...overrides,
    },
  };
}
