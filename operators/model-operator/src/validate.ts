// Offline validation of generated objects against the official Kubernetes OpenAPI schemas
// (kubernetes-models) and KEDA's (@kubernetes-models/keda). ServiceMonitor has no model package
// installed; it is checked for the fields Prometheus Operator requires.
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Lease } from 'kubernetes-models/coordination.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { Namespace, Pod, Service, ServiceAccount } from 'kubernetes-models/v1';

type Model = { validate(): void };
type Ctor = new (data: any) => Model;

const MODELS: Record<string, Ctor> = {
  'v1/Pod': Pod,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Namespace': Namespace,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'coordination.k8s.io/v1/Lease': Lease,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
};

function checkServiceMonitor(o: Record<string, any>): void {
  const endpoints = o.spec?.endpoints;
  if (typeof o.spec?.selector !== 'object' || !Array.isArray(endpoints) || endpoints.length === 0) {
    throw new Error('ServiceMonitor needs spec.selector and at least one spec.endpoints entry');
  }
}

/** Throws an Error naming the object and every schema violation. */
export function validateObject(o: { apiVersion: string; kind: string; metadata?: { name?: string } }): void {
  const id = `${o.apiVersion}/${o.kind}`;
  try {
    if (id === 'monitoring.coreos.com/v1/ServiceMonitor') return checkServiceMonitor(o);
    const Model = MODELS[id];
    if (Model === undefined) throw new Error(`no schema known for ${id}`);
    new Model(structuredClone(o)).validate();
  } catch (err) {
    throw new Error(`${o.kind}/${o.metadata?.name ?? '?'}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
