// The non-pod children of a ModelDeployment: Services, the router (ServiceAccount, Deployment,
// Service), the PodDisruptionBudget, the ServiceMonitor (only when its CRD exists) and the
// autoscaler. Pure: the same ModelDeployment always gives the same objects.
//
// No Role or RoleBinding: the router finds engine replicas through DNS on the headless
// `<md>-engine` Service (packages/router/src/engine-discovery.ts) and needs no apiserver access, so
// its ServiceAccount is granted nothing and no token is mounted into its pods.
import { buildAutoscaler } from '@tandem/infra';
import type { ModelDeployment } from '@tandem/schemas';
import { MODEL_ROOT, sourceMount, type KubeObject } from './pods.js';
import { LABEL, PORT, commonLabels, names, namespaceOf, ownedBy } from './names.js';
import { containerSecurityContext, podSecurityContext } from './security-context.js';

export interface Capabilities {
  /** monitoring.coreos.com/v1 ServiceMonitor is served. */
  readonly serviceMonitor: boolean;
  /** keda.sh/v1alpha1 ScaledObject is served. */
  readonly keda: boolean;
}

function meta(md: ModelDeployment, name: string, component: string) {
  return { name, namespace: namespaceOf(md), labels: commonLabels(md, component), ...ownedBy(md) };
}

function shardsService(md: ModelDeployment): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    // Headless, and publishing not-ready pods: ranks rendezvous before any of them is ready.
    metadata: meta(md, names.shardsService(md.metadata.name), 'shard'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: { [LABEL.deployment]: md.metadata.name, [LABEL.component]: 'shard' },
      ports: [
        { name: 'engine', port: PORT.engine, targetPort: PORT.engine },
        { name: 'rendezvous', port: PORT.rendezvous, targetPort: PORT.rendezvous },
      ],
    },
  };
}

function engineService(md: ModelDeployment): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    // The router resolves this name (TANDEM_ENGINE_SERVICE): headless, and without
    // publishNotReadyAddresses, so DNS answers exactly the ready rank-0 pods of serving groups.
    metadata: meta(md, names.engineService(md.metadata.name), 'shard'),
    spec: {
      clusterIP: 'None',
      selector: { [LABEL.deployment]: md.metadata.name, [LABEL.podIndex]: '0', [LABEL.serving]: 'true' },
      ports: [
        { name: 'engine', port: PORT.engine, targetPort: PORT.engine },
        { name: 'metrics', port: PORT.metrics, targetPort: PORT.metrics },
      ],
    },
  };
}

function routerObjects(md: ModelDeployment): KubeObject[] {
  const name = names.router(md.metadata.name);
  const labels = commonLabels(md, 'router');
  // The router renders and tokenizes prompts: it reads tokenizer.json / tokenizer_config.json from
  // the model folder, mounted read-only the way the shard pods mount it.
  const model = sourceMount(md, md.spec.model.source, 'model', true);
  const env: Array<Record<string, unknown>> = [
    { name: 'TANDEM_ENGINE_SERVICE', value: `${names.engineService(md.metadata.name)}.${namespaceOf(md)}.svc:${PORT.engine}` },
    { name: 'TANDEM_MODEL_DIR', value: model.dir },
    { name: 'TANDEM_MODEL_NAME', value: md.spec.model.name },
  ];
  const secret = md.spec.router.apiKeySecret;
  if (secret !== undefined) {
    // The secret's key holds the router's key list (JSON: [{id, key, tenant?, ...}]).
    env.push({ name: 'TANDEM_API_KEYS', valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } } });
  }
  const podSpec: Record<string, unknown> = {
    // Its own identity rather than `default`, with no API token in the pod (the pod-level field
    // wins over the ServiceAccount's, so this holds even if someone edits the ServiceAccount).
    serviceAccountName: name,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: podSecurityContext(),
    containers: [
      {
        name: 'router',
        image: md.spec.router.image ?? md.spec.image,
        args: ['router'],
        env,
        ports: [
          { name: 'grpc', containerPort: PORT.routerGrpc },
          { name: 'http', containerPort: PORT.routerHttp },
          { name: 'metrics', containerPort: PORT.metrics },
        ],
        readinessProbe: { httpGet: { path: '/readyz', port: PORT.routerHttp }, periodSeconds: 5 },
        livenessProbe: { httpGet: { path: '/healthz', port: PORT.routerHttp }, periodSeconds: 10 },
        resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } },
        securityContext: containerSecurityContext(),
        volumeMounts: [{ name: 'model', mountPath: `${MODEL_ROOT}/model`, readOnly: true }],
      },
    ],
    volumes: [model.volume],
  };
  if (model.init !== undefined) podSpec.initContainers = [model.init];
  return [
    // Bound to no Role: the router never calls the apiserver. No token for any pod that uses it.
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(md, name, 'router'), automountServiceAccountToken: false },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(md, name, 'router'),
      spec: {
        replicas: md.spec.router.replicas,
        selector: { matchLabels: { [LABEL.deployment]: md.metadata.name, [LABEL.component]: 'router' } },
        template: { metadata: { labels }, spec: podSpec },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(md, name, 'router'),
      spec: {
        selector: { [LABEL.deployment]: md.metadata.name, [LABEL.component]: 'router' },
        ports: [
          { name: 'grpc', port: PORT.routerGrpc, targetPort: PORT.routerGrpc },
          { name: 'http', port: PORT.routerHttp, targetPort: PORT.routerHttp },
          { name: 'metrics', port: PORT.metrics, targetPort: PORT.metrics },
        ],
      },
    },
  ];
}

function pdb(md: ModelDeployment): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(md, names.pdb(md.metadata.name), 'shard'),
    spec: {
      // Evicting any rank takes its whole group down: allow one pod (so one group) at a time.
      maxUnavailable: 1,
      selector: { matchLabels: { [LABEL.deployment]: md.metadata.name, [LABEL.component]: 'shard' } },
    },
  };
}

function serviceMonitor(md: ModelDeployment): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(md, names.router(md.metadata.name), 'router'),
    spec: {
      selector: { matchLabels: { [LABEL.deployment]: md.metadata.name, [LABEL.component]: 'router' } },
      endpoints: [{ port: 'metrics', interval: '15s' }],
    },
  };
}

/** What a child the operator may have created earlier is, for deletion when no longer desired. */
export interface ChildRef {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export interface ChildPlan {
  readonly apply: KubeObject[];
  /** Optional children that must not exist (autoscaling switched off or to the other engine). */
  readonly remove: ChildRef[];
}

export function buildChildren(md: ModelDeployment, caps: Capabilities): ChildPlan {
  const apply: KubeObject[] = [shardsService(md), engineService(md), ...routerObjects(md), pdb(md)];
  const remove: ChildRef[] = [];
  const ns = namespaceOf(md);
  const name = names.autoscaler(md.metadata.name);
  if (caps.serviceMonitor) apply.push(serviceMonitor(md));
  const autoscaler = buildAutoscaler(md, ownedBy(md)) as KubeObject | undefined;
  if (autoscaler !== undefined) {
    if (autoscaler.kind === 'ScaledObject' && !caps.keda) {
      throw new Error(`ModelDeployment ${md.metadata.name}: spec.autoscaling.engine is keda but the ScaledObject CRD (keda.sh/v1alpha1) is not installed`);
    }
    apply.push(autoscaler);
  }
  if (autoscaler?.kind !== 'HorizontalPodAutoscaler') remove.push({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: ns, name });
  if (autoscaler?.kind !== 'ScaledObject' && caps.keda) remove.push({ apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', namespace: ns, name });
  return { apply, remove };
}
