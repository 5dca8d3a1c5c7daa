// Least privilege ("pods run as non-root with minimal RBAC"): a ModelDeployment's children grant
// no API access to anyone, its pods carry no API token, and the operator's ClusterRole holds
// exactly the kinds reconcile writes, so no RBAC objects and no EndpointSlices.
import { operatorClusterRules } from '@tandem/infra';
import { describe, expect, it } from 'vitest';
import type { Action } from './plan.js';
import { StepWorld } from './step-world.js';

type Obj = Record<string, any>;
const ALL_CAPS = { serviceMonitor: true, keda: true };

/** Every object and ref a reconcile of `w` touches: applied children, created pods, removals. */
function touched(actions: Action[]): Array<{ apiVersion: string; kind: string; name: string; object?: Obj }> {
  return actions.flatMap((a) => {
    if (a.type === 'apply') return [{ apiVersion: a.object.apiVersion, kind: a.object.kind, name: a.object.metadata.name, object: a.object as Obj }];
    if (a.type === 'createPod') return [{ apiVersion: a.pod.apiVersion, kind: a.pod.kind, name: a.pod.metadata.name, object: a.pod as Obj }];
    if (a.type === 'remove') return [{ apiVersion: a.ref.apiVersion, kind: a.ref.kind, name: a.ref.name }];
    return [];
  });
}

/** The reconciles a ModelDeployment goes through: created (HPA, then KEDA with every optional API), and deleted. */
function lifecycle(): Array<{ what: string; actions: Action[] }> {
  const out: Array<{ what: string; actions: Action[] }> = [];
  const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 }, autoscaling: { maxReplicas: 4 }, model: { name: 'command-a', source: { uri: 'hf://CohereLabs/c4ai-command-r7b-12-2024' } } });
  out.push({ what: 'create (HPA, URI source)', actions: w.reconcile().actions });
  w.caps = ALL_CAPS;
  w.update((s) => void (s.autoscaling = { engine: 'keda', maxReplicas: 4 }));
  out.push({ what: 'switch to KEDA with ServiceMonitor', actions: w.reconcile().actions });
  w.md.metadata.deletionTimestamp = new Date(w.now).toISOString();
  out.push({ what: 'delete', actions: w.reconcile().actions });
  return out;
}

// Kind → the resource the operator's ClusterRole must cover for it.
const RESOURCE: Record<string, { group: string; resource: string }> = {
  Pod: { group: '', resource: 'pods' },
  Service: { group: '', resource: 'services' },
  ServiceAccount: { group: '', resource: 'serviceaccounts' },
  Deployment: { group: 'apps', resource: 'deployments' },
  PodDisruptionBudget: { group: 'policy', resource: 'poddisruptionbudgets' },
  HorizontalPodAutoscaler: { group: 'autoscaling', resource: 'horizontalpodautoscalers' },
  ScaledObject: { group: 'keda.sh', resource: 'scaledobjects' },
  ServiceMonitor: { group: 'monitoring.coreos.com', resource: 'servicemonitors' },
};

const rules = operatorClusterRules();
const granted = (group: string, resource: string): Set<string> =>
  new Set(rules.filter((r) => r.apiGroups!.includes(group) && r.resources!.includes(resource)).flatMap((r) => r.verbs!));

describe('least privilege: a ModelDeployment grants no API access', () => {
  for (const { what, actions } of lifecycle()) {
    it(`${what}: no Role, RoleBinding or other RBAC object is applied or removed`, () => {
      const rbac = touched(actions).filter((o) => o.apiVersion.startsWith('rbac.authorization.k8s.io/'));
      expect(rbac).toEqual([]);
    });
  }

  it('the router runs as its own ServiceAccount, and neither it nor its pods get an API token', () => {
    const objs = touched(lifecycle()[0]!.actions).flatMap((o) => (o.object === undefined ? [] : [o.object]));
    const sa = objs.find((o) => o.kind === 'ServiceAccount')!;
    expect(sa.metadata.name).toBe('cmd-router');
    expect(sa.automountServiceAccountToken).toBe(false);
    const pod = objs.find((o) => o.kind === 'Deployment' && o.metadata.name === 'cmd-router')!.spec.template.spec;
    expect(pod.serviceAccountName).toBe('cmd-router');
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('no shard pod (rank, including its model fetch init container) mounts an API token', () => {
    const pods = touched(lifecycle()[0]!.actions).flatMap((o) => (o.kind === 'Pod' ? [o.object!] : []));
    expect(pods.map((p) => p.metadata.name)).toEqual(['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1']);
    expect(pods[0]!.spec.initContainers.map((c: Obj) => c.name)).toEqual(['fetch-model']);
    for (const p of pods) expect(p.spec.automountServiceAccountToken, p.metadata.name).toBe(false);
  });
});

describe('least privilege: the operator ClusterRole', () => {
  it('grants nothing on endpointslices, roles or rolebindings, and nothing in the RBAC API group', () => {
    for (const r of rules) {
      expect(r.resources).not.toEqual(expect.arrayContaining(['endpointslices']));
      expect(r.resources).not.toEqual(expect.arrayContaining(['roles']));
      expect(r.resources).not.toEqual(expect.arrayContaining(['rolebindings']));
      expect(r.apiGroups).not.toContain('rbac.authorization.k8s.io');
      expect(r.apiGroups).not.toContain('discovery.k8s.io');
    }
  });

  it('still covers every kind reconcile writes (create/patch for apply, delete for removal)', () => {
    const seen = new Set<string>();
    for (const { what, actions } of lifecycle()) {
      for (const a of actions) {
        const kind = a.type === 'apply' ? a.object.kind : a.type === 'createPod' ? a.pod.kind : a.type === 'remove' ? a.ref.kind : undefined;
        if (kind === undefined) continue;
        const res = RESOURCE[kind];
        expect(res, `${what}: ${kind} has no entry in RESOURCE (add it and a ClusterRole rule)`).toBeDefined();
        const verbs = granted(res!.group, res!.resource);
        const need = a.type === 'remove' ? ['delete'] : a.type === 'createPod' ? ['create'] : ['create', 'patch'];
        for (const v of need) expect(verbs.has(v), `${what}: ${v} ${res!.resource}`).toBe(true);
        seen.add(kind);
      }
    }
    expect([...seen].sort()).toEqual(Object.keys(RESOURCE).sort());
  });
});
