import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { RenderError, renderYaml } from './render.js';

describe('renderYaml', () => {
  it('prints every object for a resource: children and every rank pod', () => {
    const out = renderYaml(`apiVersion: tandem.dev/v1alpha1
kind: ModelDeployment
metadata: { name: cmd-a, namespace: ml }
spec:
  model: { name: command-a, source: { hostPath: { path: /models/command-a } } }
  parallelism: { tensor: 2 }
  replicas: 2
  autoscaling: { maxReplicas: 4 }
`);
    const docs = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`)).toEqual([
      'Service/cmd-a-shards',
      'Service/cmd-a-engine',
      'ServiceAccount/cmd-a-router',
      'Deployment/cmd-a-router',
      'Service/cmd-a-router',
      'PodDisruptionBudget/cmd-a-shards',
      'ServiceMonitor/cmd-a-router',
      'HorizontalPodAutoscaler/cmd-a',
      'Pod/cmd-a-0-0',
      'Pod/cmd-a-0-1',
      'Pod/cmd-a-1-0',
      'Pod/cmd-a-1-1',
    ]);
  });

  it('reports every invalid field with its path', () => {
    expect(() =>
      renderYaml(`apiVersion: tandem.dev/v1alpha1
kind: ModelDeployment
metadata: { name: x }
spec:
  model: { name: m, source: {} }
  parallelism: { tensor: 0 }
`, { source: 'x.yaml' }),
    ).toThrow(/x\.yaml document 1:[\s\S]*spec\.model\.source: exactly one of pvc, hostPath, uri must be set[\s\S]*spec\.parallelism\.tensor/);
  });

  it('refuses a file with no ModelDeployment', () => {
    expect(() => renderYaml('')).toThrow(RenderError);
  });
});
