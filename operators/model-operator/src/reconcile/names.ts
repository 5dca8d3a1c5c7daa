// Names, labels and ports the operator writes. Stable names are part of the contract: the router
// finds rank 0 through `<md>-engine`, ranks find rank 0 through `<md>-<ordinal>-0.<md>-shards`.
import type { ModelDeployment } from '@tandem/schemas';

export const FIELD_MANAGER = 'tandem-operator';
export const FINALIZER = 'tandem.dev/cleanup';
export const GANG_GATE = 'tandem.dev/gang';

export const LABEL = {
  name: 'app.kubernetes.io/name',
  instance: 'app.kubernetes.io/instance',
  component: 'app.kubernetes.io/component',
  managedBy: 'app.kubernetes.io/managed-by',
  deployment: 'tandem.dev/deployment',
  group: 'tandem.dev/group',
  podIndex: 'tandem.dev/pod-index',
  revision: 'tandem.dev/revision',
  /** "false" once a group drains: rank 0 leaves the engine Service, so the router stops routing to it. */
  serving: 'tandem.dev/serving',
} as const;

export const ANNOTATION = {
  groupSize: 'tandem.dev/group-size',
  drainStarted: 'tandem.dev/drain-started',
} as const;

export const PORT = { routerGrpc: 50051, routerHttp: 8080, engine: 50061, rendezvous: 50071, metrics: 9464 } as const;

export const names = {
  group: (md: string, ordinal: number) => `${md}-${ordinal}`,
  pod: (md: string, ordinal: number, index: number) => `${md}-${ordinal}-${index}`,
  shardsService: (md: string) => `${md}-shards`,
  engineService: (md: string) => `${md}-engine`,
  router: (md: string) => `${md}-router`,
  pdb: (md: string) => `${md}-shards`,
  autoscaler: (md: string) => md,
};

export function namespaceOf(md: ModelDeployment): string {
  return md.metadata.namespace ?? 'default';
}

export function commonLabels(md: ModelDeployment, component: string): Record<string, string> {
  return {
    [LABEL.name]: 'tandem',
    [LABEL.instance]: md.metadata.name,
    [LABEL.component]: component,
    [LABEL.managedBy]: FIELD_MANAGER,
    [LABEL.deployment]: md.metadata.name,
  };
}

/** Selector of rank-0 pods: the scale subresource's status.selector. */
export function rankZeroSelector(md: ModelDeployment): string {
  return `${LABEL.deployment}=${md.metadata.name},${LABEL.podIndex}=0`;
}

export function endpointOf(md: ModelDeployment): string {
  return `${names.router(md.metadata.name)}.${namespaceOf(md)}.svc:${PORT.routerGrpc}`;
}

/** `{ ownerReferences }` when the resource came from the apiserver (has a uid), else nothing. */
export function ownedBy(md: ModelDeployment): { ownerReferences?: Array<Record<string, unknown>> } {
  if (md.metadata.uid === undefined) return {};
  return { ownerReferences: [
    {
      apiVersion: md.apiVersion,
      kind: md.kind,
      name: md.metadata.name,
      uid: md.metadata.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ] };
}
