// The operator's only door to the apiserver. Every write is server-side apply with one field
// manager, except two pod edits SSA cannot express on an object it did not fully re-apply (lifting
// the gang gate, marking a group draining): those are merge patches. Errors are never swallowed;
// a 404 on delete is success (the object is already gone).
import * as k8s from '@kubernetes/client-node';
import {
  MODEL_DEPLOYMENT_API_VERSION,
  MODEL_DEPLOYMENT_GROUP,
  MODEL_DEPLOYMENT_KIND,
  MODEL_DEPLOYMENT_PLURAL,
  MODEL_DEPLOYMENT_VERSION,
  type ModelDeploymentStatus,
} from '@tandem/schemas';
import type { Capabilities, ChildRef } from '../reconcile/children.js';
import type { KubeEvent } from '../reconcile/conditions.js';
import type { ObservedPod } from '../reconcile/groups.js';
import { ANNOTATION, FIELD_MANAGER, GANG_GATE, LABEL } from '../reconcile/names.js';
import type { KubeObject } from '../reconcile/pods.js';

const SSA = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);
const MERGE = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
const JSON_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);

export function isNotFound(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 404;
}

export function isConflict(err: unknown): boolean {
  return err instanceof k8s.ApiException && err.code === 409;
}

export class KubeClient {
  readonly objects: k8s.KubernetesObjectApi;
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly apis: k8s.ApisApi;
  readonly coordination: k8s.CoordinationV1Api;

  constructor(readonly kc: k8s.KubeConfig) {
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.custom = kc.makeApiClient(k8s.CustomObjectsApi);
    this.apis = kc.makeApiClient(k8s.ApisApi);
    this.coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  }

  /** Optional APIs the reconcile adapts to (ServiceMonitor, KEDA). */
  async capabilities(): Promise<Capabilities> {
    const groups = await this.apis.getAPIVersions();
    const has = (name: string) => groups.groups.some((g) => g.name === name);
    return { serviceMonitor: has('monitoring.coreos.com'), keda: has('keda.sh') };
  }

  async apply(object: KubeObject): Promise<void> {
    await this.objects.patch(object as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  async remove(ref: ChildRef): Promise<void> {
    try {
      await this.objects.delete({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } });
    } catch (err) {
      if (isNotFound(err)) return;
      // An optional API (KEDA, ServiceMonitor) that is not installed: nothing to delete.
      if (err instanceof Error && /unable to retrieve resource|resource .* not found|Unrecognized API version and kind/i.test(err.message)) return;
      throw err;
    }
  }

  async createPod(pod: KubeObject): Promise<void> {
    // Create, not apply: a pod that already exists must not be silently adopted with another spec.
    try {
      await this.core.createNamespacedPod({ namespace: pod.metadata.namespace ?? 'default', body: pod as k8s.V1Pod, fieldManager: FIELD_MANAGER });
    } catch (err) {
      if (isConflict(err)) throw new Error(`pod ${pod.metadata.name} already exists (an earlier group is still terminating?)`, { cause: err });
      throw err;
    }
  }

  async ungatePod(namespace: string, name: string): Promise<void> {
    const pod = await this.core.readNamespacedPod({ namespace, name });
    const gates = (pod.spec?.schedulingGates ?? []).filter((g) => g.name !== GANG_GATE);
    const patch = [
      { op: 'test', path: '/metadata/resourceVersion', value: pod.metadata?.resourceVersion },
      { op: 'replace', path: '/spec/schedulingGates', value: gates },
    ];
    await this.core.patchNamespacedPod({ namespace, name, body: patch, fieldManager: FIELD_MANAGER }, JSON_PATCH);
  }

  async drainPod(namespace: string, name: string, at: string): Promise<void> {
    const body = { metadata: { labels: { [LABEL.serving]: 'false' }, annotations: { [ANNOTATION.drainStarted]: at } } };
    await this.core.patchNamespacedPod({ namespace, name, body, fieldManager: FIELD_MANAGER }, MERGE);
  }

  async deletePod(namespace: string, name: string): Promise<void> {
    try {
      await this.core.deleteNamespacedPod({ namespace, name });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async listPods(namespace: string, mdName: string): Promise<ObservedPod[]> {
    const list = await this.core.listNamespacedPod({ namespace, labelSelector: `${LABEL.deployment}=${mdName}` });
    return list.items as unknown as ObservedPod[];
  }

  async getModelDeployment(namespace: string, name: string): Promise<unknown | undefined> {
    try {
      return await this.custom.getNamespacedCustomObject({ group: MODEL_DEPLOYMENT_GROUP, version: MODEL_DEPLOYMENT_VERSION, plural: MODEL_DEPLOYMENT_PLURAL, namespace, name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async applyStatus(namespace: string, name: string, status: ModelDeploymentStatus): Promise<void> {
    const body = { apiVersion: MODEL_DEPLOYMENT_API_VERSION, kind: MODEL_DEPLOYMENT_KIND, metadata: { name, namespace }, status };
    await this.custom.patchNamespacedCustomObjectStatus(
      { group: MODEL_DEPLOYMENT_GROUP, version: MODEL_DEPLOYMENT_VERSION, plural: MODEL_DEPLOYMENT_PLURAL, namespace, name, body, fieldManager: FIELD_MANAGER, force: true },
      SSA,
    );
  }

  /** Finalizers are a list; a JSON patch with a resourceVersion test never clobbers someone else's. */
  async setFinalizers(namespace: string, name: string, resourceVersion: string | undefined, finalizers: string[]): Promise<void> {
    const body = [
      ...(resourceVersion === undefined ? [] : [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }]),
      { op: 'add', path: '/metadata/finalizers', value: finalizers },
    ];
    await this.custom.patchNamespacedCustomObject(
      { group: MODEL_DEPLOYMENT_GROUP, version: MODEL_DEPLOYMENT_VERSION, plural: MODEL_DEPLOYMENT_PLURAL, namespace, name, body, fieldManager: FIELD_MANAGER },
      JSON_PATCH,
    );
  }

  async recordEvent(md: { metadata: { name: string; namespace?: string; uid?: string } }, event: KubeEvent, now: Date): Promise<void> {
    const namespace = md.metadata.namespace ?? 'default';
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { generateName: `${md.metadata.name}.`, namespace },
        involvedObject: { apiVersion: MODEL_DEPLOYMENT_API_VERSION, kind: MODEL_DEPLOYMENT_KIND, name: md.metadata.name, namespace, uid: md.metadata.uid },
        type: event.type,
        reason: event.reason,
        message: event.message,
        source: { component: FIELD_MANAGER },
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
        reportingComponent: FIELD_MANAGER,
      },
    });
  }
}
