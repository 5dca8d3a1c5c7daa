// Every object the operator can generate validates against the official schemas offline.
import { buildScaledObject, operatorInstallObjects } from '@tandem/infra';
import { ModelDeploymentSchema, modelDeploymentCrd } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import { buildGroupPods } from './reconcile/pods.js';
import { renderObjects } from './render.js';
import { validateObject } from './validate.js';

const base = `apiVersion: tandem.dev/v1alpha1
kind: ModelDeployment
metadata: { name: command-a, namespace: ml }
spec:
  model: { name: command-a, source: { pvc: { claimName: weights, path: command-a } } }
  parallelism: { tensor: 2 }
  replicas: 2
`;

const variants: Record<string, string> = {
  'hpa autoscaling, topology key, API key': `${base}  autoscaling: { minReplicas: 1, maxReplicas: 4 }
  scheduling: { topologyKey: kubernetes.io/hostname, nodeSelector: { gpu: h100 }, tolerations: [{ key: nvidia.com/gpu, operator: Exists, effect: NoSchedule }], priorityClassName: inference }
  router: { apiKeySecret: { name: tandem-key } }
`,
  'keda autoscaling, gated URI source with a token secret, cpu backend': `apiVersion: tandem.dev/v1alpha1
kind: ModelDeployment
metadata: { name: r7b }
spec:
  model:
    name: command-r7b
    source: { uri: hf://CohereLabs/c4ai-command-r7b-12-2024, tokenSecret: { name: hf-token } }
  engine: { backend: cpu, threads: 8 }
  resources: { cpu: 8, memory: 16Gi }
  autoscaling: { engine: keda, maxReplicas: 3 }
`,
};

describe('generated objects validate against kubernetes-models', () => {
  for (const [name, yaml] of Object.entries(variants)) {
    it(name, () => {
      const objects = renderObjects(yaml);
      const kinds = new Set(objects.map((o) => o.kind));
      expect(kinds).toEqual(new Set(['Service', 'ServiceAccount', 'Deployment', 'PodDisruptionBudget', 'ServiceMonitor', name.startsWith('keda') ? 'ScaledObject' : 'HorizontalPodAutoscaler', 'Pod']));
      for (const o of objects) expect(() => validateObject(o)).not.toThrow();
    });
  }

  it('pods with merge sources validate (the CRD refuses merge until the engine has it; pods.ts renders it already)', () => {
    const md = ModelDeploymentSchema.parse({ apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'r7b', namespace: 'ml' }, spec: { model: { name: 'command-r7b', source: { uri: 'hf://CohereLabs/c4ai-command-r7b-12-2024' } }, engine: { backend: 'cpu' } } });
    md.spec.model.merge = [{ source: { hostPath: { path: '/data/lora-merged' } }, weight: 0.25 }];
    const pods = buildGroupPods(md, 0);
    expect((pods[0]!.spec as any).volumes.map((v: { name: string }) => v.name)).toEqual(['model', 'merge-0']);
    for (const p of pods) expect(() => validateObject(p)).not.toThrow();
  });

  it('the CRD validates', () => {
    expect(() => validateObject(modelDeploymentCrd() as any)).not.toThrow();
  });

  it('catches a broken object (the check can fail)', () => {
    const [svc] = renderObjects(base).filter((o) => o.kind === 'Service');
    const broken = structuredClone(svc!) as any;
    broken.spec.ports[0].port = 'not-a-number';
    expect(() => validateObject(broken)).toThrow(/Service\/command-a-shards/);
  });

  it('the operator install (cdk8s/Helm objects) validates', () => {
    const objs = operatorInstallObjects({});
    expect(objs.map((o) => o.kind)).toContain('ClusterRole');
    for (const o of objs) expect(() => validateObject(o)).not.toThrow();
  });

  it('a KEDA ScaledObject built for a ModelDeployment validates', () => {
    const md = ModelDeploymentSchema.parse({ apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'x' }, spec: { model: { name: 'm', source: { hostPath: { path: '/m' } } }, autoscaling: { engine: 'keda', maxReplicas: 3 } } });
    expect(() => validateObject(buildScaledObject(md) as never)).not.toThrow();
  });
});
