// The rank pods of one shard group. A group's pods are built together and differ only in their
// index, so the group is the unit the operator creates, recreates and deletes.
import { createHash } from 'node:crypto';
import type { ModelDeployment, ModelSource } from '@tandem/schemas';
import { ANNOTATION, GANG_GATE, LABEL, PORT, commonLabels, names, namespaceOf, ownedBy } from './names.js';
import { containerSecurityContext, podSecurityContext } from './security-context.js';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
};

export const MODEL_ROOT = '/models';

/**
 * Hash of everything that shapes a group's pods. A change (model, TP, engine, image, resources,
 * scheduling) gives a new revision, which rolls the groups; replicas, autoscaling and router do not.
 */
export function groupRevision(md: ModelDeployment): string {
  const { model, image, parallelism, engine, resources, scheduling } = md.spec;
  const text = JSON.stringify({ model, image, parallelism, engine, resources, scheduling });
  return createHash('sha256').update(text).digest('hex').slice(0, 10);
}

export function podsPerGroup(md: ModelDeployment): number {
  return md.spec.parallelism.tensor / md.spec.parallelism.gpusPerPod;
}

export interface Mount {
  volume: Record<string, unknown>;
  dir: string;
  init?: Record<string, unknown>;
}

/**
 * How a model source reaches a pod: its volume, the model folder inside the pod, and the fetch init
 * container (URI sources). `tokenizerOnly`: the router needs config.json and the tokenizer, not the
 * weights (hundreds of GB for Command A).
 */
export function sourceMount(md: ModelDeployment, source: ModelSource, volumeName: string, tokenizerOnly = false): Mount {
  const mountPath = `${MODEL_ROOT}/${volumeName}`;
  if (source.pvc !== undefined) {
    return {
      volume: { name: volumeName, persistentVolumeClaim: { claimName: source.pvc.claimName, readOnly: true } },
      dir: source.pvc.path === '' ? mountPath : `${mountPath}/${source.pvc.path.replace(/^\/+/, '')}`,
    };
  }
  if (source.hostPath !== undefined) {
    return { volume: { name: volumeName, hostPath: { path: source.hostPath.path, type: 'Directory' } }, dir: mountPath };
  }
  // URI: an init container downloads into an emptyDir before the shard starts.
  const init: Record<string, unknown> = {
    name: `fetch-${volumeName}`,
    image: md.spec.image,
    args: ['model', 'fetch', '--uri', source.uri ?? '', '--out', mountPath, ...(tokenizerOnly ? ['--tokenizer-only'] : [])],
    // A failed fetch says why in its last stderr line (no access to the repo, 404, ...); this puts
    // that line in the pod status, where the group's Failed message picks it up.
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: containerSecurityContext(),
    volumeMounts: [{ name: volumeName, mountPath }],
  };
  const token = source.tokenSecret;
  if (token !== undefined) init.env = [hfTokenEnv(token)];
  return { volume: { name: volumeName, emptyDir: {} }, dir: mountPath, init };
}

/**
 * HF_TOKEN for the fetch init container only (the shard and router containers never see it), by
 * reference: the kubelet reads the secret, so the token is never in the pod spec and the operator
 * needs no access to secrets. `optional: false`: a missing secret or key keeps the pod Pending
 * (CreateContainerConfigError naming it) rather than fetching anonymously and failing on a 401.
 */
export function hfTokenEnv(secret: { name: string; key: string }): Record<string, unknown> {
  return { name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: secret.name, key: secret.key, optional: false } } };
}

function threadsOf(md: ModelDeployment): string {
  if (md.spec.engine.threads !== undefined) return String(md.spec.engine.threads);
  const cpu = String(md.spec.resources.cpu);
  return /^\d+$/.test(cpu) ? cpu : '1';
}

/** Every pod of group `ordinal`, created gated (schedulingGates) so the scheduler sees them together. */
export function buildGroupPods(md: ModelDeployment, ordinal: number): KubeObject[] {
  const mdName = md.metadata.name;
  const ns = namespaceOf(md);
  const { tensor, gpusPerPod } = md.spec.parallelism;
  const revision = groupRevision(md);
  const group = names.group(mdName, ordinal);
  const base = sourceMount(md, md.spec.model.source, 'model');
  const merges = (md.spec.model.merge ?? []).map((m, i) => ({ mount: sourceMount(md, m.source, `merge-${i}`), weight: m.weight }));
  const mounts = [base, ...merges.map((m) => m.mount)];
  const leader = `${names.pod(mdName, ordinal, 0)}.${names.shardsService(mdName)}.${ns}.svc:${PORT.rendezvous}`;
  const cuda = md.spec.engine.backend === 'cuda';
  const resources: Record<string, Record<string, string | number>> = {
    requests: { cpu: md.spec.resources.cpu, memory: md.spec.resources.memory },
    limits: { cpu: md.spec.resources.cpu, memory: md.spec.resources.memory },
  };
  if (cuda) {
    resources.requests!['nvidia.com/gpu'] = gpusPerPod;
    resources.limits!['nvidia.com/gpu'] = gpusPerPod;
  }
  const { scheduling } = md.spec;
  const pods: KubeObject[] = [];
  for (let index = 0; index < podsPerGroup(md); index++) {
    const env: Array<{ name: string; value: string }> = [
      { name: 'TANDEM_MODEL_DIR', value: base.dir },
      { name: 'TANDEM_MODEL_NAME', value: md.spec.model.name },
      { name: 'TANDEM_RANK', value: String(index * gpusPerPod) },
      { name: 'TANDEM_RANKS_PER_POD', value: String(gpusPerPod) },
      { name: 'TANDEM_WORLD_SIZE', value: String(tensor) },
      { name: 'TANDEM_LEADER_ADDR', value: leader },
      { name: 'TANDEM_BACKEND', value: md.spec.engine.backend },
      { name: 'TANDEM_THREADS', value: threadsOf(md) },
      { name: 'TANDEM_DTYPE', value: md.spec.engine.dtype },
      { name: 'TANDEM_MAX_BATCH_TOKENS', value: String(md.spec.engine.maxBatchTokens) },
      { name: 'TANDEM_KV_MEMORY_FRACTION', value: String(md.spec.engine.kvMemoryFraction) },
      { name: 'TANDEM_PREFIX_CACHING', value: String(md.spec.engine.prefixCaching) },
    ];
    if (md.spec.engine.maxSeqLen !== undefined) env.push({ name: 'TANDEM_MAX_SEQ_LEN', value: String(md.spec.engine.maxSeqLen) });
    if (merges.length > 0) {
      env.push({ name: 'TANDEM_MODEL_MERGE', value: JSON.stringify(merges.map((m) => ({ dir: m.mount.dir, weight: m.weight }))) });
    }
    const spec: Record<string, unknown> = {
      hostname: names.pod(mdName, ordinal, index),
      subdomain: names.shardsService(mdName),
      // A crashed rank must not restart alone: the operator recreates the whole group.
      restartPolicy: 'Never',
      // Shards (and the model fetch init container) never call the apiserver: no API token in the
      // pod. The pod-level field overrides whatever the namespace's `default` ServiceAccount says.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(),
      terminationGracePeriodSeconds: scheduling.terminationGracePeriodSeconds,
      schedulingGates: [{ name: GANG_GATE }],
      containers: [
        {
          name: 'shard',
          image: md.spec.image,
          args: ['shard'],
          env,
          ports: [
            { name: 'engine', containerPort: PORT.engine },
            { name: 'rendezvous', containerPort: PORT.rendezvous },
            { name: 'metrics', containerPort: PORT.metrics },
          ],
          readinessProbe: { grpc: { port: PORT.engine }, periodSeconds: 5, failureThreshold: 3 },
          // A shard that refuses a setting (or fails to load) says why in its last log line; this
          // puts that line in the pod status, where the group's Degraded message picks it up.
          terminationMessagePolicy: 'FallbackToLogsOnError',
          resources,
          securityContext: containerSecurityContext(),
          volumeMounts: mounts.map((m) => ({ name: m.volume.name as string, mountPath: `${MODEL_ROOT}/${m.volume.name as string}`, readOnly: m.init === undefined })),
        },
      ],
      volumes: mounts.map((m) => m.volume),
    };
    const inits = mounts.flatMap((m) => (m.init === undefined ? [] : [m.init]));
    if (inits.length > 0) spec.initContainers = inits;
    if (scheduling.nodeSelector !== undefined) spec.nodeSelector = scheduling.nodeSelector;
    if (scheduling.tolerations !== undefined) spec.tolerations = scheduling.tolerations;
    if (scheduling.priorityClassName !== undefined) spec.priorityClassName = scheduling.priorityClassName;
    if (scheduling.topologyKey !== undefined) {
      spec.affinity = {
        podAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: [
            { labelSelector: { matchLabels: { [LABEL.group]: group } }, topologyKey: scheduling.topologyKey },
          ],
        },
      };
    }
    pods.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: names.pod(mdName, ordinal, index),
        namespace: ns,
        labels: {
          ...commonLabels(md, 'shard'),
          [LABEL.group]: group,
          [LABEL.podIndex]: String(index),
          [LABEL.revision]: revision,
          [LABEL.serving]: 'true',
        },
        annotations: { [ANNOTATION.groupSize]: String(podsPerGroup(md)) },
        ...ownedBy(md),
      },
      spec,
    });
  }
  return pods;
}
