// Files in charts/tandem that are generated, not hand-written: the CRD (from the zod schemas) and
// values.schema.json (from OperatorValuesSchema). `npm run gen:chart -w @tandem/infra` rewrites
// them; chart-files.spec.ts fails when the committed copies are stale.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MODEL_DEPLOYMENT_CRD_NAME, modelDeploymentCrd, operatorValuesJsonSchema } from '@tandem/schemas';
import { stringify } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'tandem');

const HEADER = '# Generated from packages/schemas/src/crd by `npm run gen:chart -w @tandem/infra`. Do not edit.\n';

/** Relative path under charts/tandem → file content. */
export function generatedChartFiles(): Record<string, string> {
  return {
    [`crds/${MODEL_DEPLOYMENT_CRD_NAME}.yaml`]: HEADER + stringify(modelDeploymentCrd(), { lineWidth: 0 }),
    'values.schema.json': `${JSON.stringify(operatorValuesJsonSchema(), null, 2)}\n`,
  };
}
