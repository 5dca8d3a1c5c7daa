import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { modelDeploymentCrd } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import { CHART_DIR, generatedChartFiles } from './chart-files.js';
import { OperatorInstall, chartOf } from './constructs.js';

describe('generated chart files are not stale', () => {
  for (const [rel, content] of Object.entries(generatedChartFiles())) {
    it(`charts/tandem/${rel} (run npm run gen:chart -w @tandem/infra)`, () => {
      expect(readFileSync(join(CHART_DIR, rel), 'utf8')).toBe(content);
    });
  }
  it('the cdk8s install carries the same CRD as the schemas', () => {
    const objs = Testing.synth(chartOf(Testing.app(), 't', (c) => new OperatorInstall(c, 'i'))) as Array<Record<string, unknown>>;
    expect(objs.find((o) => o.kind === 'CustomResourceDefinition')).toEqual(modelDeploymentCrd());
  });
});
