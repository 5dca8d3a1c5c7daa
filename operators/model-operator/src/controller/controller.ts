// The ModelDeployment controller: informers trigger a keyed reconcile; each reconcile reads the
// resource and its pods fresh, asks the pure reconcile for actions + status, executes the actions
// (server-side apply, one field manager), then writes status and events. Errors propagate to the
// work queue, which retries with backoff; nothing is logged-and-forgotten.
import * as k8s from '@kubernetes/client-node';
import {
  MODEL_DEPLOYMENT_GROUP,
  MODEL_DEPLOYMENT_PLURAL,
  MODEL_DEPLOYMENT_VERSION,
  type ModelDeployment,
  ModelDeploymentSchema,
  type ModelDeploymentStatus,
  type Condition,
  formatZodError,
} from '@tandem/schemas';
import type { Logger } from '@tandem/kit';
import { type Capabilities } from '../reconcile/children.js';
import { mergeConditions } from '../reconcile/conditions.js';
import { FINALIZER, LABEL, namespaceOf } from '../reconcile/names.js';
import { type ReconcileResult, reconcile } from '../reconcile/plan.js';
import { KubeClient } from './kube.js';
import { WorkQueue } from './work-queue.js';

export interface ControllerOptions {
  readonly kubeConfig: k8s.KubeConfig;
  readonly logger: Logger;
  /** Clock (tests); default Date.now. */
  readonly now?: () => number;
  /** Re-discover optional APIs this often; default 60 s. */
  readonly capabilitiesRefreshMs?: number;
}

type Obj = Record<string, unknown>;
type Meta = { metadata?: { name?: string; namespace?: string; labels?: Record<string, string> } };

export class ModelDeploymentController {
  readonly kube: KubeClient;
  private readonly queue: WorkQueue;
  private informers: Array<k8s.Informer<k8s.KubernetesObject>> = [];
  private caps: { value: Capabilities; at: number } | undefined;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly options: ControllerOptions) {
    this.kube = new KubeClient(options.kubeConfig);
    this.now = options.now ?? Date.now;
    this.queue = new WorkQueue(
      (key) => this.reconcileKey(key),
      (key, err, retry) => options.logger.error('reconcile failed', { key, retryInMs: retry, error: errorText(err) }),
    );
  }

  async start(): Promise<void> {
    const kc = this.options.kubeConfig;
    const mds = k8s.makeInformer<k8s.KubernetesObject>(
      kc,
      `/apis/${MODEL_DEPLOYMENT_GROUP}/${MODEL_DEPLOYMENT_VERSION}/${MODEL_DEPLOYMENT_PLURAL}`,
      () => this.kube.custom.listClusterCustomObject({ group: MODEL_DEPLOYMENT_GROUP, version: MODEL_DEPLOYMENT_VERSION, plural: MODEL_DEPLOYMENT_PLURAL }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
    );
    const podSelector = `${LABEL.managedBy}=tandem-operator,${LABEL.component}=shard`;
    const pods = k8s.makeInformer<k8s.KubernetesObject>(
      kc,
      '/api/v1/pods',
      () => this.kube.core.listPodForAllNamespaces({ labelSelector: podSelector }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>,
      podSelector,
    );
    const enqueueMd = (o: Meta) => this.queue.add(`${o.metadata?.namespace ?? 'default'}/${o.metadata?.name ?? ''}`);
    const enqueueOwner = (o: Meta) => {
      const md = o.metadata?.labels?.[LABEL.deployment];
      if (md !== undefined) this.queue.add(`${o.metadata?.namespace ?? 'default'}/${md}`);
    };
    for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) {
      mds.on(verb, enqueueMd);
      pods.on(verb, enqueueOwner);
    }
    for (const inf of [mds, pods]) {
      // The informer stops on a watch error; restart it after a pause (and say so).
      inf.on(k8s.ERROR, (err) => {
        if (this.stopped) return;
        this.options.logger.warn('watch failed; restarting', { error: errorText(err) });
        setTimeout(() => void inf.start().catch((e: unknown) => this.options.logger.error('watch restart failed', { error: errorText(e) })), 2000).unref();
      });
    }
    this.informers = [mds, pods];
    await Promise.all(this.informers.map((i) => i.start()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.stop();
    await Promise.all(this.informers.map((i) => i.stop()));
  }

  /** Reconciles one key now (also used by tests to wait for a known state). */
  enqueue(namespace: string, name: string): void {
    this.queue.add(`${namespace}/${name}`);
  }

  private async capabilities(): Promise<Capabilities> {
    const refresh = this.options.capabilitiesRefreshMs ?? 60_000;
    if (this.caps === undefined || this.now() - this.caps.at > refresh) {
      this.caps = { value: await this.kube.capabilities(), at: this.now() };
    }
    return this.caps.value;
  }

  async reconcileKey(key: string): Promise<{ requeueAfterMs?: number | undefined }> {
    const [namespace = 'default', name = ''] = key.split('/');
    const raw = await this.kube.getModelDeployment(namespace, name);
    if (raw === undefined) return {};
    const parsed = ModelDeploymentSchema.safeParse(raw);
    if (!parsed.success) {
      // The CRD admitted it but the operator's schema does not (e.g. a CRD installed from an
      // older chart): say so on the resource, and wait for the spec to change (the watch fires).
      const message = `invalid spec: ${formatZodError(parsed.error).replace(/\n/g, '; ')}`;
      await this.reportDegraded(namespace, name, raw as Obj, 'InvalidSpec', message);
      this.options.logger.error('invalid ModelDeployment', { key, error: message });
      return {};
    }
    const md = parsed.data;
    const pods = await this.kube.listPods(namespace, name);
    const now = this.now();
    let result: ReconcileResult;
    try {
      result = reconcile({ md, pods, now, capabilities: await this.capabilities() });
    } catch (err) {
      // E.g. engine keda without KEDA installed: put the reason on the resource, then retry with
      // backoff (installing KEDA fixes it without a spec change).
      await this.reportDegraded(namespace, name, raw as Obj, 'ReconcileError', errorText(err));
      throw err;
    }
    await this.execute(md, result);
    this.options.logger.debug('reconciled', { key, actions: result.actions.length, requeueAfterMs: result.requeueAfterMs });
    return { requeueAfterMs: result.requeueAfterMs };
  }

  private async reportDegraded(namespace: string, name: string, raw: Obj, reason: string, message: string): Promise<void> {
    const previous = ((raw.status as Obj | undefined)?.conditions ?? []) as Condition[];
    const generation = (raw.metadata as Obj | undefined)?.generation as number | undefined;
    const merged = mergeConditions(previous, [{ type: 'Degraded', status: 'True', reason, message }], this.now(), generation);
    const conditions = [...previous.filter((c) => c.type !== 'Degraded'), ...merged.conditions];
    await this.kube.applyStatus(namespace, name, { conditions, ...(generation === undefined ? {} : { observedGeneration: generation }) });
    const meta = raw.metadata as { name: string; namespace?: string; uid?: string };
    for (const e of merged.events) await this.kube.recordEvent({ metadata: meta }, e, new Date(this.now()));
  }

  private async execute(md: ModelDeployment, result: ReconcileResult): Promise<void> {
    const ns = namespaceOf(md);
    const name = md.metadata.name;
    const errors: unknown[] = [];
    const run = async (what: string, fn: () => Promise<void>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(new Error(`${what}: ${errorText(err)}`, { cause: err }));
      }
    };
    // The finalizer goes on before anything is created, so nothing can be orphaned.
    if (result.actions.some((a) => a.type === 'addFinalizer')) {
      await this.kube.setFinalizers(ns, name, md.metadata.resourceVersion, [...(md.metadata.finalizers ?? []), FINALIZER]);
    }
    for (const a of result.actions) {
      switch (a.type) {
        case 'apply':
          await run(`apply ${a.object.kind}/${a.object.metadata.name}`, () => this.kube.apply(a.object));
          break;
        case 'remove':
          await run(`delete ${a.ref.kind}/${a.ref.name}`, () => this.kube.remove(a.ref));
          break;
        case 'createPod':
          await run(`create pod ${a.pod.metadata.name}`, () => this.kube.createPod(a.pod));
          break;
        case 'ungate':
          await run(`ungate pod ${a.pod}`, () => this.kube.ungatePod(ns, a.pod));
          break;
        case 'drain':
          await run(`drain pod ${a.pod}`, () => this.kube.drainPod(ns, a.pod, a.at));
          break;
        case 'deletePod':
          await run(`delete pod ${a.pod} (${a.reason})`, () => this.kube.deletePod(ns, a.pod));
          break;
        default:
          break;
      }
    }
    if (errors.length === 0 && result.actions.some((a) => a.type === 'removeFinalizer')) {
      await this.kube.setFinalizers(ns, name, md.metadata.resourceVersion, (md.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    }
    if (result.status !== undefined) {
      const status = errors.length === 0 ? result.status : withReconcileError(result.status, errors, this.now());
      await this.kube.applyStatus(ns, name, status);
    }
    for (const e of result.events) await this.kube.recordEvent(md, e, new Date(this.now()));
    if (errors.length > 0) throw new AggregateError(errors, `${errors.length} action(s) failed for ${ns}/${name}: ${errors.map(errorText).join('; ')}`);
  }
}

/** Degraded=True/ReconcileError naming what failed, so `kubectl describe` shows it too. */
function withReconcileError(status: ModelDeploymentStatus, errors: unknown[], now: number): ModelDeploymentStatus {
  const message = errors.map(errorText).join('; ').slice(0, 1000);
  const conditions = (status.conditions ?? []).map((c) =>
    c.type === 'Degraded' ? { ...c, status: 'True' as const, reason: 'ReconcileError', message, lastTransitionTime: c.status === 'True' ? c.lastTransitionTime : new Date(now).toISOString() } : c,
  );
  return { ...status, conditions };
}

export function errorText(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body = err.body as { message?: string } | string | undefined;
    const msg = typeof body === 'string' ? body : body?.message;
    return `HTTP ${err.code}${msg === undefined ? '' : `: ${msg}`}`;
  }
  return err instanceof Error ? err.message : String(err);
}
