// Step tables for the group state machine: each step is a change (spec edit, kubelet/scheduler
// event, time passing), one reconcile, and the state the user would then observe.
import { describe, expect, it } from 'vitest';
import type { Action } from './plan.js';
import { StepWorld } from './step-world.js';

type CondKey = 'Ready' | 'Progressing' | 'Degraded';
interface Step {
  readonly change: string;
  readonly do?: (w: StepWorld) => void;
  readonly pods?: string[];
  readonly actions?: Partial<Record<Action['type'], number>>;
  readonly conditions?: Partial<Record<CondKey, string>>;
  readonly readyReplicas?: number;
  readonly replicas?: number;
  readonly groups?: Record<string, string>;
  readonly events?: string[];
  readonly check?: (w: StepWorld) => void;
}

function runSteps(w: StepWorld, steps: Step[]): void {
  for (const step of steps) {
    step.do?.(w);
    const r = w.reconcile();
    const ctx = `step "${step.change}"`;
    if (step.pods !== undefined) expect(w.podNames(), ctx).toEqual(step.pods);
    if (step.actions !== undefined) {
      const counts: Record<string, number> = {};
      for (const a of r.actions) counts[a.type] = (counts[a.type] ?? 0) + 1;
      for (const [type, n] of Object.entries(step.actions)) expect(counts[type] ?? 0, `${ctx}: ${type} actions`).toBe(n);
    }
    for (const [type, want] of Object.entries(step.conditions ?? {})) {
      const c = w.condition(type);
      expect(`${c?.status}/${c?.reason}`, `${ctx}: ${type}`).toBe(want);
    }
    if (step.readyReplicas !== undefined) expect(w.md.status?.readyReplicas, ctx).toBe(step.readyReplicas);
    if (step.replicas !== undefined) expect(w.md.status?.replicas, ctx).toBe(step.replicas);
    if (step.groups !== undefined) {
      expect(Object.fromEntries((w.md.status?.groups ?? []).map((g) => [g.name, g.phase])), ctx).toEqual(step.groups);
    }
    if (step.events !== undefined) expect(r.events.map((e) => `${e.type}:${e.reason}`), ctx).toEqual(step.events);
    step.check?.(w);
  }
}

const env = (w: StepWorld, pod: string) =>
  Object.fromEntries(((w.last.actions.find((a) => a.type === 'createPod' && a.pod.metadata.name === pod) as any)?.pod.spec.containers[0].env ?? []).map((e: any) => [e.name, e.value]));

describe('reconcile: create', () => {
  it('creates two gated groups of two ranks, ungates them together, then reports Ready', () => {
    const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 } });
    runSteps(w, [
      {
        change: 'new ModelDeployment (tensor 2, replicas 2)',
        pods: ['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1'],
        actions: { addFinalizer: 1, createPod: 4, ungate: 0, apply: 6 },
        conditions: { Ready: 'False/GroupsNotReady', Progressing: 'True/Creating', Degraded: 'False/AsExpected' },
        replicas: 2,
        readyReplicas: 0,
        events: ['Normal:GroupsNotReady', 'Normal:Creating'],
        check: (w) => {
          expect(env(w, 'cmd-1-1')).toMatchObject({
            TANDEM_RANK: '1',
            TANDEM_WORLD_SIZE: '2',
            TANDEM_LEADER_ADDR: 'cmd-1-0.cmd-shards.ml.svc:50071',
            TANDEM_BACKEND: 'cuda',
            TANDEM_MODEL_DIR: '/models/model',
            TANDEM_THREADS: '4',
          });
          const pod = (w.last.actions.find((a) => a.type === 'createPod') as any).pod;
          expect(pod.spec.containers[0].resources.limits['nvidia.com/gpu']).toBe(1);
          expect(pod.spec.containers[0].readinessProbe.grpc.port).toBe(50061);
          expect(pod.spec.schedulingGates).toEqual([{ name: 'tandem.dev/gang' }]);
          expect(pod.spec.subdomain).toBe('cmd-shards');
          expect(pod.metadata.ownerReferences[0]).toMatchObject({ kind: 'ModelDeployment', uid: 'uid-1', controller: true });
        },
      },
      { change: 'all pods of each group exist', actions: { ungate: 4, createPod: 0 }, events: [] },
      { change: 'scheduled, not ready yet', do: (w) => w.runPods({ ready: false }), groups: { 'cmd-0': 'Starting', 'cmd-1': 'Starting' }, events: [] },
      {
        change: 'every rank ready',
        do: (w) => w.runPods(),
        conditions: { Ready: 'True/AllGroupsReady', Progressing: 'False/Complete', Degraded: 'False/AsExpected' },
        readyReplicas: 2,
        groups: { 'cmd-0': 'Ready', 'cmd-1': 'Ready' },
        events: ['Normal:AllGroupsReady', 'Normal:Complete'],
        check: (w) => {
          expect(w.md.status?.endpoint).toBe('cmd-router.ml.svc:50051');
          expect(w.md.status?.selector).toBe('tandem.dev/deployment=cmd,tandem.dev/pod-index=0');
          expect(w.md.status?.observedGeneration).toBe(1);
        },
      },
      { change: 'nothing (idempotent, no event)', actions: { createPod: 0, deletePod: 0, drain: 0, ungate: 0, addFinalizer: 0 }, events: [] },
    ]);
  });

  it('puts a group on one node with required pod affinity when topologyKey is set', () => {
    const w = new StepWorld({ parallelism: { tensor: 4, gpusPerPod: 2 }, scheduling: { topologyKey: 'kubernetes.io/hostname' } });
    w.reconcile();
    expect(w.podNames()).toEqual(['cmd-0-0', 'cmd-0-1']);
    const pod = (w.last.actions.find((a) => a.type === 'createPod') as any).pod;
    expect(pod.spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toEqual({
      labelSelector: { matchLabels: { 'tandem.dev/group': 'cmd-0' } },
      topologyKey: 'kubernetes.io/hostname',
    });
    expect(env(w, 'cmd-0-1')).toMatchObject({ TANDEM_RANK: '2', TANDEM_RANKS_PER_POD: '2', TANDEM_WORLD_SIZE: '4' });
    expect(pod.spec.containers[0].resources.requests['nvidia.com/gpu']).toBe(2);
  });
});

describe('reconcile: scale', () => {
  it('scale up adds a group; scale down drains it before deleting it', () => {
    const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 } });
    w.settle();
    runSteps(w, [
      {
        change: 'kubectl scale --replicas 3',
        do: (w) => w.update((s) => void (s.replicas = 3)),
        actions: { createPod: 2 },
        pods: ['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1', 'cmd-2-0', 'cmd-2-1'],
        conditions: { Ready: 'False/GroupsNotReady', Progressing: 'True/ScalingUp' },
        replicas: 3,
        events: ['Warning:GroupsNotReady', 'Normal:ScalingUp'],
      },
      { change: 'new group starts', do: (w) => { w.reconcile(); w.runPods(); }, conditions: { Ready: 'True/AllGroupsReady', Progressing: 'False/Complete' }, readyReplicas: 3 },
      {
        change: 'kubectl scale --replicas 2',
        do: (w) => w.update((s) => void (s.replicas = 2)),
        actions: { drain: 2, deletePod: 0 },
        groups: { 'cmd-0': 'Ready', 'cmd-1': 'Ready', 'cmd-2': 'Draining' },
        conditions: { Ready: 'True/AllGroupsReady', Progressing: 'True/ScalingDown' },
        replicas: 2,
        readyReplicas: 2,
        check: (w) => {
          expect(w.pods.get('cmd-2-0')?.metadata.labels?.['tandem.dev/serving']).toBe('false');
          expect(w.last.requeueAfterMs).toBe(30_000);
        },
      },
      { change: '10 s later: still draining', do: (w) => w.advance(10), actions: { deletePod: 0 }, pods: ['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1', 'cmd-2-0', 'cmd-2-1'] },
      { change: 'drain period over', do: (w) => w.advance(20), actions: { deletePod: 2 }, pods: ['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1'] },
      { change: 'pods gone', conditions: { Ready: 'True/AllGroupsReady', Progressing: 'False/Complete' }, groups: { 'cmd-0': 'Ready', 'cmd-1': 'Ready' } },
    ]);
  });

  it('scale to zero drains everything and says so', () => {
    const w = new StepWorld({ replicas: 1 });
    w.settle();
    runSteps(w, [
      { change: 'replicas 0', do: (w) => w.update((s) => void (s.replicas = 0)), actions: { drain: 1 }, conditions: { Ready: 'True/ScaledToZero' }, replicas: 0 },
      { change: 'drained', do: (w) => w.advance(30), actions: { deletePod: 1 }, pods: [] },
    ]);
  });
});

describe('reconcile: rolling updates', () => {
  function rollAndCheck(w: StepWorld, desired: number, groupSize: number) {
    // Drive the roll; at every step at least `desired` groups stay ready and at most one surge
    // group exists besides them.
    for (let i = 0; i < 60; i++) {
      const r = w.reconcile();
      const serving = (w.md.status?.groups ?? []).filter((g) => g.phase !== 'Draining');
      expect(w.md.status?.readyReplicas ?? 0).toBeGreaterThanOrEqual(desired);
      expect(serving.length).toBeLessThanOrEqual(desired + 1);
      w.runPods();
      if (w.condition('Progressing')?.status === 'False') break;
      if (!r.actions.some((a) => ['createPod', 'deletePod', 'drain', 'ungate'].includes(a.type))) w.advance(30);
    }
    expect(w.condition('Progressing')?.reason).toBe('Complete');
    const revisions = new Set([...w.pods.values()].map((p) => p.metadata.labels?.['tandem.dev/revision']));
    expect(revisions.size).toBe(1);
    expect(w.pods.size).toBe(desired * groupSize);
  }

  it('TP change rolls group by group with one surge group of the new shape', () => {
    const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 } });
    w.settle();
    runSteps(w, [
      {
        change: 'tensor 2 → 4',
        do: (w) => w.update((s) => void (s.parallelism = { tensor: 4 })),
        actions: { createPod: 4, drain: 0 },
        conditions: { Ready: 'True/AllGroupsReady', Progressing: 'True/RollingUpdate' },
        check: (w) => expect(env(w, 'cmd-2-3')).toMatchObject({ TANDEM_WORLD_SIZE: '4', TANDEM_RANK: '3' }),
      },
      { change: 'surge group ungated', actions: { ungate: 4, drain: 0 } },
      { change: 'surge group ready → one old group drains', do: (w) => w.runPods(), actions: { drain: 2, createPod: 0 }, groups: { 'cmd-0': 'Ready', 'cmd-1': 'Draining', 'cmd-2': 'Ready' } },
    ]);
    rollAndCheck(w, 2, 4);
  });

  it('model update keeps `replicas` ready groups throughout', () => {
    const w = new StepWorld({ replicas: 3, parallelism: { tensor: 2 } });
    w.settle();
    w.update((s) => void (s.model = { name: 'command-a-v2', source: { uri: 'hf://CohereLabs/c4ai-command-a-03-2025' } }));
    rollAndCheck(w, 3, 2);
    const init = [...w.pods.values()][0] as any;
    expect(init.metadata.labels['tandem.dev/serving']).toBe('true');
  });

  it('router-only changes do not roll the groups', () => {
    const w = new StepWorld({ replicas: 1 });
    w.settle();
    w.update((s) => void (s.router = { replicas: 5 }));
    const r = w.reconcile();
    expect(r.actions.filter((a) => a.type !== 'apply' && a.type !== 'remove')).toEqual([]);
    const router = r.actions.find((a) => a.type === 'apply' && a.object.kind === 'Deployment') as any;
    expect(router.object.spec.replicas).toBe(5);
  });
});

describe('reconcile: failures', () => {
  it('a failed rank recreates its whole group under the same name', () => {
    const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 } });
    w.settle();
    runSteps(w, [
      {
        change: 'rank pod cmd-0-1 fails',
        do: (w) => void (w.pods.get('cmd-0-1')!.status!.phase = 'Failed'),
        actions: { deletePod: 2, createPod: 0 },
        pods: ['cmd-1-0', 'cmd-1-1'],
        conditions: { Ready: 'False/GroupsNotReady', Progressing: 'True/Recreating', Degraded: 'True/GroupFailed' },
        events: ['Warning:GroupsNotReady', 'Normal:Recreating', 'Warning:GroupFailed'],
        check: (w) => expect(w.condition('Degraded')?.message).toContain('pod cmd-0-1 failed'),
      },
      { change: 'old pods gone → group recreated', actions: { createPod: 2 }, pods: ['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1'], conditions: { Degraded: 'True/GroupFailed' } },
      { change: 'ungated', actions: { ungate: 2 } },
      { change: 'ready again', do: (w) => w.runPods(), conditions: { Ready: 'True/AllGroupsReady', Degraded: 'False/AsExpected', Progressing: 'False/Complete' } },
    ]);
  });

  it('a restarted container or a deleted rank pod also recreates the group', () => {
    const w = new StepWorld({ replicas: 1, parallelism: { tensor: 2 } });
    w.settle();
    w.pods.get('cmd-0-0')!.status!.containerStatuses = [{ name: 'shard', restartCount: 1 }];
    w.reconcile();
    expect(w.condition('Degraded')?.message).toContain('restarted 1 time(s)');
    expect(w.podNames()).toEqual([]);
    w.settle();
    w.pods.delete('cmd-0-1');
    w.reconcile();
    expect(w.condition('Degraded')?.message).toContain('rank pod index 1 missing');
    expect(w.podNames()).toEqual([]);
  });

  it('an unschedulable group is deleted after the timeout, saying why', () => {
    const w = new StepWorld({ parallelism: { tensor: 2 }, scheduling: { scheduleTimeoutSeconds: 120 } });
    w.reconcile();
    w.reconcile();
    runSteps(w, [
      {
        change: 'scheduler cannot place the group',
        do: (w) => w.markUnschedulable('0/3 nodes are available: 3 Insufficient nvidia.com/gpu.'),
        groups: { 'cmd-0': 'Pending' },
        actions: { deletePod: 0 },
        check: (w) => expect(w.last.requeueAfterMs).toBe(120_000),
      },
      {
        change: 'timeout passes',
        do: (w) => w.advance(120),
        actions: { deletePod: 2 },
        conditions: { Degraded: 'True/ScheduleTimeout', Ready: 'False/GroupsNotReady' },
        check: (w) => expect(w.condition('Degraded')?.message).toMatch(/not fully scheduled within 120s .*Insufficient nvidia.com\/gpu/),
      },
      { change: 'recreated', actions: { createPod: 2 }, groups: { 'cmd-0': 'Pending' }, conditions: { Degraded: 'True/ScheduleTimeout' } },
    ]);
  });
});

describe('reconcile: deletion', () => {
  it('deletes every pod and child, then removes the finalizer', () => {
    const w = new StepWorld({ replicas: 2, parallelism: { tensor: 2 }, autoscaling: { maxReplicas: 4 } });
    w.settle();
    expect(w.md.metadata.finalizers).toEqual(['tandem.dev/cleanup']);
    runSteps(w, [
      {
        change: 'kubectl delete tmd/cmd',
        do: (w) => void (w.md.metadata.deletionTimestamp = new Date(w.now).toISOString()),
        actions: { deletePod: 4, remove: 8, removeFinalizer: 0, apply: 0 },
        pods: [],
      },
      { change: 'pods gone', actions: { removeFinalizer: 1 }, check: (w) => expect(w.md.metadata.finalizers).toEqual([]) },
    ]);
  });
});

describe('reconcile: children', () => {
  it('HPA by default, KEDA ScaledObject on request, ServiceMonitor only when its CRD exists', () => {
    const w = new StepWorld({ autoscaling: { minReplicas: 1, maxReplicas: 4 } });
    let kinds = w.reconcile().actions.flatMap((a) => (a.type === 'apply' ? [a.object.kind] : []));
    expect(kinds).toContain('HorizontalPodAutoscaler');
    expect(kinds).not.toContain('ServiceMonitor');
    w.caps = { serviceMonitor: true, keda: true };
    w.update((s) => void (s.autoscaling = { engine: 'keda', maxReplicas: 4 }));
    const r = w.reconcile();
    kinds = r.actions.flatMap((a) => (a.type === 'apply' ? [a.object.kind] : []));
    expect(kinds).toEqual(expect.arrayContaining(['ScaledObject', 'ServiceMonitor']));
    expect(r.actions).toContainEqual({ type: 'remove', ref: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: 'ml', name: 'cmd' } });
  });

  it('refuses keda when KEDA is not installed, naming the field', () => {
    const w = new StepWorld({ autoscaling: { engine: 'keda', maxReplicas: 2 } });
    expect(() => w.reconcile()).toThrow(/spec.autoscaling.engine is keda.*not installed/);
  });

  it('gives the router what it reads: the engine Service name, the model mounted read-only, the key list', () => {
    const w = new StepWorld({ router: { apiKeySecret: { name: 'keys', key: 'keys.json' } } });
    const applied = w.reconcile().actions.flatMap((a) => (a.type === 'apply' ? [a.object as any] : []));
    const engine = applied.find((o) => o.kind === 'Service' && o.metadata.name === 'cmd-engine');
    // Headless and publishing only ready pods: DNS answers the serving rank-0 pods and nothing else.
    expect(engine.spec.clusterIP).toBe('None');
    expect(engine.spec.publishNotReadyAddresses).toBeUndefined();
    expect(engine.spec.selector).toMatchObject({ 'tandem.dev/pod-index': '0', 'tandem.dev/serving': 'true' });
    const dep = applied.find((o) => o.kind === 'Deployment' && o.metadata.name === 'cmd-router');
    const pod = dep.spec.template.spec;
    const c = pod.containers[0];
    expect(c.args).toEqual(['router']);
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toEqual({
      TANDEM_ENGINE_SERVICE: 'cmd-engine.ml.svc:50061',
      TANDEM_MODEL_DIR: '/models/model',
      TANDEM_MODEL_NAME: 'command-a',
      TANDEM_API_KEYS: { secretKeyRef: { name: 'keys', key: 'keys.json' } },
    });
    expect(c.volumeMounts).toEqual([{ name: 'model', mountPath: '/models/model', readOnly: true }]);
    expect(pod.volumes).toEqual([{ name: 'model', persistentVolumeClaim: { claimName: 'weights', readOnly: true } }]);
    expect(pod.initContainers).toBeUndefined();
  });

  it('a URI model is fetched into the router pod too, and no key secret means no TANDEM_API_KEYS', () => {
    const w = new StepWorld({ model: { name: 'command-a', source: { uri: 'hf://CohereLabs/c4ai-command-r7b-12-2024' } } });
    const applied = w.reconcile().actions.flatMap((a) => (a.type === 'apply' ? [a.object as any] : []));
    const pod = applied.find((o) => o.kind === 'Deployment').spec.template.spec;
    expect(pod.initContainers.map((i: any) => i.name)).toEqual(['fetch-model']);
    expect(pod.volumes).toEqual([{ name: 'model', emptyDir: {} }]);
    expect(pod.containers[0].env.map((e: any) => e.name)).toEqual(['TANDEM_ENGINE_SERVICE', 'TANDEM_MODEL_DIR', 'TANDEM_MODEL_NAME']);
  });
});
