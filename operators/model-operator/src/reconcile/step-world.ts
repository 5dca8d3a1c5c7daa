// Test support for the step tables: applies a ReconcileResult to an in-memory pod list the way
// the controller would apply it to the apiserver, and plays the kubelet/scheduler so a step can
// say "schedule everything", "rank 1 fails", "time passes". Used only by *.spec.ts.
import { ModelDeploymentSchema, type ModelDeployment, type ModelDeploymentSpecInput } from '@tandem/schemas';
import type { ObservedPod } from './groups.js';
import { ANNOTATION, GANG_GATE, LABEL } from './names.js';
import { type Capabilities } from './children.js';
import { type ReconcileResult, reconcile } from './plan.js';

export class StepWorld {
  md: ModelDeployment;
  pods = new Map<string, ObservedPod>();
  now = Date.parse('2026-01-01T00:00:00Z');
  last!: ReconcileResult;
  caps: Capabilities = { serviceMonitor: false, keda: false };

  constructor(spec: Partial<ModelDeploymentSpecInput> = {}) {
    this.md = ModelDeploymentSchema.parse({
      apiVersion: 'tandem.dev/v1alpha1',
      kind: 'ModelDeployment',
      metadata: { name: 'cmd', namespace: 'ml', uid: 'uid-1', generation: 1 },
      spec: { model: { name: 'command-a', source: { pvc: { claimName: 'weights' } } }, ...spec },
    });
  }

  /** Changes the spec (as `kubectl apply` would: generation + 1). */
  update(change: (spec: ModelDeploymentSpecInput) => void): void {
    const spec = structuredClone(this.md.spec) as ModelDeploymentSpecInput;
    change(spec);
    const parsed = ModelDeploymentSchema.parse({ ...this.md, spec });
    this.md = { ...parsed, metadata: { ...parsed.metadata, generation: (this.md.metadata.generation ?? 1) + 1 } };
  }

  reconcile(): ReconcileResult {
    const result = reconcile({ md: this.md, pods: [...this.pods.values()], now: this.now, capabilities: this.caps });
    this.last = result;
    for (const a of result.actions) {
      switch (a.type) {
        case 'addFinalizer':
          this.md.metadata.finalizers = [...(this.md.metadata.finalizers ?? []), 'tandem.dev/cleanup'];
          break;
        case 'removeFinalizer':
          this.md.metadata.finalizers = [];
          break;
        case 'createPod': {
          const pod = structuredClone(a.pod) as unknown as ObservedPod;
          if (this.pods.has(pod.metadata.name)) throw new Error(`create ${pod.metadata.name}: already exists`);
          pod.metadata.creationTimestamp = new Date(this.now).toISOString();
          pod.status = { phase: 'Pending' };
          this.pods.set(pod.metadata.name, pod);
          break;
        }
        case 'ungate': {
          const pod = this.must(a.pod);
          pod.spec = { ...pod.spec, schedulingGates: (pod.spec?.schedulingGates ?? []).filter((g) => g.name !== GANG_GATE) };
          break;
        }
        case 'drain': {
          const pod = this.must(a.pod);
          pod.metadata.labels = { ...pod.metadata.labels, [LABEL.serving]: 'false' };
          pod.metadata.annotations = { ...pod.metadata.annotations, [ANNOTATION.drainStarted]: a.at };
          break;
        }
        case 'deletePod':
          this.must(a.pod);
          this.pods.delete(a.pod);
          break;
        default:
          break;
      }
    }
    if (result.status !== undefined) this.md = { ...this.md, status: result.status };
    return result;
  }

  private must(name: string): ObservedPod {
    const pod = this.pods.get(name);
    if (pod === undefined) throw new Error(`pod ${name} does not exist`);
    return pod;
  }

  /** Scheduler + kubelet: every ungated pod is bound and (optionally) becomes ready. */
  runPods(opts: { ready?: boolean; only?: (pod: ObservedPod) => boolean } = {}): void {
    for (const pod of this.pods.values()) {
      if ((pod.spec?.schedulingGates ?? []).length > 0) continue;
      if (opts.only !== undefined && !opts.only(pod)) continue;
      pod.spec = { ...pod.spec, nodeName: 'node-1' };
      const ready = opts.ready ?? true;
      pod.status = {
        phase: 'Running',
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Ready', status: ready ? 'True' : 'False' },
        ],
        containerStatuses: [{ name: 'shard', restartCount: 0, state: {} }],
      };
    }
  }

  markUnschedulable(message: string): void {
    for (const pod of this.pods.values()) {
      if ((pod.spec?.schedulingGates ?? []).length > 0) continue;
      pod.status = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }] };
    }
  }

  podNames(): string[] {
    return [...this.pods.keys()].sort();
  }

  condition(type: string) {
    return this.md.status?.conditions?.find((c) => c.type === type);
  }

  advance(seconds: number): void {
    this.now += seconds * 1000;
  }

  /** Reconciles, schedules and readies pods until the deployment is steady (bounded). */
  settle(maxSteps = 40): void {
    for (let i = 0; i < maxSteps; i++) {
      const r = this.reconcile();
      this.runPods();
      const podWork = r.actions.some((a) => a.type !== 'apply' && a.type !== 'remove' && a.type !== 'addFinalizer');
      if (!podWork && this.condition('Progressing')?.status === 'False') return;
      if (!podWork) this.advance(Math.ceil((r.requeueAfterMs ?? 1000) / 1000));
    }
    throw new Error(`did not settle: ${JSON.stringify(this.md.status?.conditions)}`);
  }
}
