// The operator → shard environment contract. The operator may not import the shard (it would pull
// in the native engine), so the names the shard reads live in @tandem/schemas (SHARD_ENV_NAMES, which
// the shard's own test keeps equal to SHARD_CONFIG), and the rendered environments are kept in a
// fixture that the shard's test loads with its real config loader: a variable the operator sets
// must never be one the shard silently ignores.
import { ModelDeploymentSchema, SHARD_ENV_NAMES, type ModelDeployment, type ModelDeploymentSpecInput } from '@tandem/schemas';
import { describe, expect, it } from 'vitest';
import { buildChildren } from './children.js';
import { buildGroupPods } from './pods.js';

type Obj = Record<string, any>;

/** The env fixture the shard's config test reads (packages/shard/src/config.spec.ts). */
const FIXTURE = new URL('../../tests/fixtures/shard-env.json', import.meta.url).pathname;

function deployment(spec: ModelDeploymentSpecInput): ModelDeployment {
  return ModelDeploymentSchema.parse({ apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'cmd', namespace: 'ml' }, spec });
}

/** Every optional field set. The CRD refuses a non-empty merge today, so it is added after parsing. */
function fullDeployment(): ModelDeployment {
  const md = deployment({
    model: { name: 'command-a', source: { uri: 'hf://CohereLabs/c4ai-command-a-03-2025' } },
    image: 'registry.example/tandem:1',
    parallelism: { tensor: 4, gpusPerPod: 2 },
    replicas: 2,
    autoscaling: { engine: 'keda', minReplicas: 1, maxReplicas: 3, queueDepthPerReplica: 4, kvUtilization: 0.7, scaleDownStabilizationSeconds: 60 },
    engine: { backend: 'cuda', dtype: 'fp8', maxBatchTokens: 4096, maxSeqLen: 8192, kvMemoryFraction: 0.8, prefixCaching: false, threads: 8 },
    resources: { cpu: '16', memory: '128Gi' },
    scheduling: { nodeSelector: { pool: 'gpu' }, tolerations: [{ key: 'gpu', operator: 'Exists', effect: 'NoSchedule' }], priorityClassName: 'high', topologyKey: 'kubernetes.io/hostname' },
    router: { replicas: 1, image: 'registry.example/router:1', apiKeySecret: { name: 'keys' } },
  });
  md.spec.model.merge = [{ source: { pvc: { claimName: 'adapter', path: 'ckpt' } }, weight: 0.25 }];
  return md;
}

function shardEnv(pod: Obj): Record<string, string> {
  const shard = (pod.spec.containers as Obj[]).find((c) => c.name === 'shard')!;
  return Object.fromEntries((shard.env as Obj[]).map((e) => [e.name as string, e.value as string]));
}

describe('operator → shard environment contract', () => {
  const full = buildGroupPods(fullDeployment(), 0);
  const cpuDefault = buildGroupPods(deployment({ model: { name: 'm', source: { hostPath: { path: '/models/m' } } }, engine: { backend: 'cpu' } }), 0);

  it('renders only TANDEM_* variables the shard reads, with every optional field set', () => {
    const names = new Set(full.flatMap((p) => Object.keys(shardEnv(p))));
    // The full spec exercises every conditional variable too (merge, max sequence length).
    expect([...names]).toEqual(expect.arrayContaining(['TANDEM_MODEL_MERGE', 'TANDEM_MAX_SEQ_LEN', 'TANDEM_RANKS_PER_POD', 'TANDEM_DTYPE']));
    const known = new Set<string>(SHARD_ENV_NAMES);
    expect([...names].filter((n) => n.startsWith('TANDEM_') && !known.has(n))).toEqual([]);
    expect([...names].filter((n) => !n.startsWith('TANDEM_'))).toEqual([]);
  });

  it('renders the environments the shard test checks (update with vitest -u, then run the shard tests)', async () => {
    await expect(JSON.stringify({ cpuDefault: shardEnv(cpuDefault[0]!), full: shardEnv(full[1]!) }, null, 2) + '\n').toMatchFileSnapshot(FIXTURE);
  });
});

// Gated Hub repos (Command A, Command R7B): the fetch init container, and only it, gets HF_TOKEN by
// reference to a secret, in the shard pods and in the router pod (which reads the tokenizer).
describe('a URI source with a token secret', () => {
  const gated = (tokenSecret?: { name: string; key?: string }) =>
    deployment({ model: { name: 'command-a', source: { uri: 'hf://CohereLabs/c4ai-command-a-03-2025', ...(tokenSecret ? { tokenSecret } : {}) } }, parallelism: { tensor: 2 } });
  /** Every pod spec the deployment renders: each rank pod of group 0, then the router's template. */
  const podSpecs = (md: ModelDeployment): Array<[string, Obj]> => {
    const router = buildChildren(md, { serviceMonitor: false, keda: false }).apply.find((o) => o.kind === 'Deployment')! as Obj;
    return [...buildGroupPods(md, 0).map((p): [string, Obj] => [p.metadata.name, p.spec as Obj]), ['router', router.spec.template.spec as Obj]];
  };

  it('gives the fetch init container HF_TOKEN from the secret (never a literal), in every shard pod and the router pod', () => {
    const specs = podSpecs(gated({ name: 'hf-token' }));
    expect(specs.map(([n]) => n)).toEqual(['cmd-0-0', 'cmd-0-1', 'router']);
    for (const [name, spec] of specs) {
      const [fetch] = spec.initContainers as Obj[];
      expect(fetch!.name, name).toBe('fetch-model');
      // The router reads only the tokenizer: it must not download the weights (hundreds of GB).
      expect(fetch!.args, name).toEqual(['model', 'fetch', '--uri', 'hf://CohereLabs/c4ai-command-a-03-2025', '--out', '/models/model',
        ...(name === 'router' ? ['--tokenizer-only'] : [])]);
      // optional: false: a missing secret or key keeps the pod Pending instead of an anonymous fetch.
      expect(fetch!.env, name).toEqual([{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'token', optional: false } } }]);
      // The serving containers never see the token.
      for (const c of spec.containers as Obj[]) expect((c.env as Obj[]).map((e) => e.name), `${name}/${c.name}`).not.toContain('HF_TOKEN');
    }
  });

  it('uses the key given, and fetches anonymously without a token secret (public repos)', () => {
    for (const [name, spec] of podSpecs(gated({ name: 'hub', key: 'hf_token' }))) {
      expect((spec.initContainers as Obj[])[0]!.env, name).toEqual([{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hub', key: 'hf_token', optional: false } } }]);
    }
    for (const [name, spec] of podSpecs(gated())) expect((spec.initContainers as Obj[])[0]!.env, name).toBeUndefined();
  });

  it('puts a failed fetch\'s last log line in the pod status (where the group message picks it up)', () => {
    const [, spec] = podSpecs(gated({ name: 'hf-token' }))[0]!;
    expect((spec.initContainers as Obj[])[0]!.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  it('rolls the groups when the token secret changes (a new pod spec), not when it stays the same', () => {
    const a = buildGroupPods(gated({ name: 'hf-token' }), 0)[0]!.metadata.labels!;
    const b = buildGroupPods(gated({ name: 'hf-token-2' }), 0)[0]!.metadata.labels!;
    const c = buildGroupPods(gated({ name: 'hf-token' }), 0)[0]!.metadata.labels!;
    expect(a['tandem.dev/revision']).not.toBe(b['tandem.dev/revision']);
    expect(a['tandem.dev/revision']).toBe(c['tandem.dev/revision']);
  });
});
