// The ModelDeployment custom resource (tandem.dev/v1alpha1): spec and status, DESIGN.md §4.
// The CRD's OpenAPI schema is generated from these schemas (crd-schema.ts), so every default and
// description here is what `kubectl explain tmd.spec` shows and what the apiserver applies.
import { z } from 'zod';

export const MODEL_DEPLOYMENT_GROUP = 'tandem.dev';
export const MODEL_DEPLOYMENT_VERSION = 'v1alpha1';
export const MODEL_DEPLOYMENT_KIND = 'ModelDeployment';
export const MODEL_DEPLOYMENT_PLURAL = 'modeldeployments';
export const MODEL_DEPLOYMENT_API_VERSION = `${MODEL_DEPLOYMENT_GROUP}/${MODEL_DEPLOYMENT_VERSION}`;

// What the engine does not do yet (docs/operator.md): refused at apply time (CEL rule + zod), so a
// deployment never starts pods that silently ignore a setting.
export const PREFIX_CACHING_NOT_IMPLEMENTED =
  "Not implemented yet: the engine does not reuse KV blocks across requests (the router's prefix affinity still " +
  'sends shared prefixes to one replica). true is refused.';
export const MERGE_NOT_IMPLEMENTED =
  'merge is not implemented yet: the engine cannot merge checkpoints at load time; remove spec.model.merge';
export const MODEL_URI_MESSAGE = 'must be an hf:// or https:// URI; s3:// and gs:// are not supported yet';
export const GPUS_PER_POD_NEEDS_CUDA =
  'gpusPerPod > 1 requires engine.backend cuda: the CPU backend runs one rank per pod (set parallelism.gpusPerPod: 1)';
// `tandem model fetch` sends HF_TOKEN to the Hugging Face Hub only (never to an https:// host), and
// pvc/hostPath sources are not downloaded at all: a token anywhere else would be silently unused.
export const TOKEN_SECRET_NEEDS_HF_URI =
  'tokenSecret needs an hf:// uri source: the token is sent only to the Hugging Face Hub (pvc, hostPath and https:// sources are read without it)';

const count = (what: string) => z.int().min(1, { message: `${what} must be an integer >= 1` });
const fraction = (what: string) =>
  z.number().gt(0, { message: `${what} must be > 0` }).max(1, { message: `${what} must be <= 1` });
/** A Kubernetes resource quantity such as `8`, `500m` or `64Gi`. */
const QuantitySchema = z
  .union([z.string().regex(/^[0-9.]+([eE][-+]?[0-9]+|[numkMGTPE]i?|Ki)?$/, 'must be a quantity like 8, 500m or 64Gi'), z.int().min(0)])
  .meta({ 'x-kubernetes-int-or-string': true, description: 'a resource quantity (e.g. 8, 500m, 64Gi)' });
/**
 * A key of a Secret in the ModelDeployment's namespace, handed to a container through
 * `valueFrom.secretKeyRef`: the kubelet reads the secret, the operator never does (no RBAC on secrets).
 */
const secretKeyRef = (defaultKey: string) =>
  z.object({
    name: z.string().min(1).max(253).describe('Secret name (in the ModelDeployment namespace).'),
    key: z
      .string()
      .regex(/^[-._a-zA-Z0-9]+$/, 'must be a secret key (letters, digits, -, _ and . only)')
      .max(253)
      .default(defaultKey)
      .describe(`Key inside the secret. Default ${defaultKey}.`),
  });

export const ModelSourceSchema = z
  .object({
    pvc: z
      .object({
        claimName: z.string().min(1).describe('PersistentVolumeClaim holding the checkpoint.'),
        path: z.string().default('').describe('Folder inside the claim (default: its root).'),
      })
      .optional()
      .describe('Read the checkpoint from a PersistentVolumeClaim (mounted read-only).'),
    hostPath: z
      .object({ path: z.string().min(1).describe('Folder on the node.') })
      .optional()
      .describe('Read the checkpoint from a folder on the node.'),
    uri: z
      .string()
      // `tandem model fetch` (the init container) downloads hf:// repos and http(s):// folders only;
      // refusing s3:// and gs:// here means `kubectl apply` fails instead of the pod.
      // A CEL rule rather than a pattern so the apiserver answers with the message, not the regex;
      // maxLength keeps the rule's estimated cost bounded.
      .max(2048, { message: 'must be at most 2048 characters' })
      .refine((u) => /^(hf|https?):\/\/.+/.test(u), { message: MODEL_URI_MESSAGE })
      .optional()
      .describe(
        'Download the checkpoint into an emptyDir with an init container (`tandem model fetch`) before the shard ' +
          'starts: hf://OWNER/NAME[@REVISION] or an https:// folder in the HF layout. s3:// and gs:// are not supported yet.',
      )
      .meta({ 'x-kubernetes-validations': [{ rule: "self.matches('^(hf|https?)://.+')", message: MODEL_URI_MESSAGE }] }),
    tokenSecret: secretKeyRef('token')
      .optional()
      .describe(
        'Secret holding a Hugging Face access token for a private or gated hf:// repo, given to the fetch init ' +
          'container as HF_TOKEN (secretKeyRef; the pod waits while the secret or key is missing). hf:// uri only.',
      ),
  })
  .meta({
    description: 'Where the HF-format checkpoint comes from: exactly one of pvc, hostPath, uri.',
    'x-kubernetes-validations': [
      {
        // Constant-cost form: the apiserver rejects rules whose estimated cost (x merge items) is too high.
        rule: '(has(self.pvc) ? 1 : 0) + (has(self.hostPath) ? 1 : 0) + (has(self.uri) ? 1 : 0) == 1',
        message: 'exactly one of pvc, hostPath, uri must be set',
      },
      {
        rule: "!has(self.tokenSecret) || (has(self.uri) && self.uri.startsWith('hf://'))",
        message: TOKEN_SECRET_NEEDS_HF_URI,
        fieldPath: '.tokenSecret',
      },
    ],
  })
  .refine((s) => [s.pvc, s.hostPath, s.uri].filter((x) => x !== undefined).length === 1, {
    message: 'exactly one of pvc, hostPath, uri must be set',
  })
  .refine((s) => s.tokenSecret === undefined || s.uri?.startsWith('hf://') === true, {
    message: TOKEN_SECRET_NEEDS_HF_URI,
    path: ['tokenSecret'],
  });
export type ModelSource = z.infer<typeof ModelSourceSchema>;

export const ModelSpecSchema = z.object({
  name: z
    .string()
    .min(1)
    .max(63)
    .describe('Model name served to clients and shown in the MODEL column (e.g. command-a).'),
  source: ModelSourceSchema,
  merge: z
    .array(
      z.object({
        source: ModelSourceSchema,
        weight: z.number().describe('Linear merge weight of this checkpoint.'),
      }),
    )
    .max(8, 'at most 8 checkpoints can be merged')
    // The engine cannot merge yet: refuse at apply time rather than start pods that fail.
    .refine((m) => m.length === 0, { message: MERGE_NOT_IMPLEMENTED })
    .meta({ 'x-kubernetes-validations': [{ rule: 'size(self) == 0', message: MERGE_NOT_IMPLEMENTED }] })
    .optional()
    .describe(
      'Same-architecture checkpoints merged linearly with source at load time ' +
        '(not implemented yet: a non-empty merge is refused when the resource is applied).',
    ),
});

export const ParallelismSchema = z
  .object({
    tensor: count('tensor').default(1).describe('Tensor-parallel ranks per replica (shard group size). Default 1.'),
    gpusPerPod: count('gpusPerPod')
      .default(1)
      .describe('GPUs (ranks) per pod; tensor must be a multiple of it. Default 1: one pod per rank.'),
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: 'self.tensor % self.gpusPerPod == 0', message: 'tensor must be a multiple of gpusPerPod' },
    ],
  })
  .refine((p) => p.tensor % p.gpusPerPod === 0, { message: 'tensor must be a multiple of gpusPerPod', path: ['tensor'] })
  // A full default, not {}: the apiserver checks the CEL rule against the default value itself.
  .prefault({ tensor: 1, gpusPerPod: 1 });

export const AutoscalingSchema = z
  .object({
    engine: z.enum(['hpa', 'keda']).default('hpa').describe('hpa: autoscaling/v2 HPA on custom metrics; keda: a KEDA ScaledObject. Default hpa.'),
    minReplicas: z.int().min(1).default(1).describe('Fewest replicas. Default 1.'),
    maxReplicas: count('maxReplicas').describe('Most replicas.'),
    queueDepthPerReplica: count('queueDepthPerReplica')
      .default(8)
      .describe('Target queued requests per replica (router metric tandem_router_queue_depth). Default 8.'),
    kvUtilization: fraction('kvUtilization')
      .default(0.8)
      .describe('Target mean KV-cache utilisation across replicas (tandem_router_kv_utilization_ratio). Default 0.8.'),
    scaleDownStabilizationSeconds: z.int().min(0).default(300).describe('Scale-down stabilisation window. Default 300.'),
    prometheusAddress: z
      .string()
      .default('http://prometheus-operated.monitoring.svc:9090')
      .describe('Prometheus the KEDA trigger queries (keda only).'),
  })
  .meta({
    'x-kubernetes-validations': [
      { rule: 'self.minReplicas <= self.maxReplicas', message: 'minReplicas must be <= maxReplicas' },
    ],
  })
  .refine((a) => a.minReplicas <= a.maxReplicas, { message: 'minReplicas must be <= maxReplicas', path: ['minReplicas'] });

export const EngineSpecSchema = z
  .object({
    backend: z.enum(['cpu', 'cuda']).default('cuda').describe('Compute backend. Default cuda.'),
    dtype: z
      .enum(['auto', 'bf16', 'fp8'])
      .default('auto')
      .describe(
        "Weight dtype. auto (default): use the checkpoint's stored dtype (f32, bf16 or f16; the engine does not convert). " +
          'bf16: assert the checkpoint is stored in bf16 (the shard refuses to start otherwise). ' +
          'fp8: needs the CUDA backend on Hopper, which this build does not have (the shard refuses to start).',
      ),
    maxBatchTokens: count('maxBatchTokens').default(8192).describe('Tokens per engine step. Default 8192.'),
    maxSeqLen: count('maxSeqLen').optional().describe('Prompt + output limit (default: the model maximum).'),
    kvMemoryFraction: fraction('kvMemoryFraction')
      .default(0.9)
      .describe(
        "Share of a rank's free memory given to the KV cache: the pod memory limit (capped by the node's memory) " +
          "minus this rank's weights and the process's own use. Default 0.9.",
      ),
    prefixCaching: z
      .boolean()
      .refine((on) => !on, { message: PREFIX_CACHING_NOT_IMPLEMENTED })
      .default(false)
      .describe(PREFIX_CACHING_NOT_IMPLEMENTED)
      .meta({ 'x-kubernetes-validations': [{ rule: '!self', message: PREFIX_CACHING_NOT_IMPLEMENTED }] }),
    threads: count('threads').optional().describe('CPU kernel threads per rank (TANDEM_THREADS; default: the CPU request).'),
  })
  .prefault({});

export const ResourcesSchema = z
  .object({
    cpu: QuantitySchema.default('4'),
    memory: QuantitySchema.default('32Gi'),
  })
  .prefault({})
  .describe('Per-pod CPU and memory requests (= limits). GPUs are gpusPerPod nvidia.com/gpu.');

export const TolerationSchema = z.object({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
  tolerationSeconds: z.int().optional(),
});

export const SchedulingSchema = z
  .object({
    nodeSelector: z.record(z.string(), z.string()).optional().describe('Node labels every rank pod requires.'),
    tolerations: z.array(TolerationSchema).optional(),
    priorityClassName: z.string().optional(),
    topologyKey: z
      .string()
      .optional()
      .describe('Keep every rank of a group in one topology domain (e.g. kubernetes.io/hostname) via required pod affinity.'),
    scheduleTimeoutSeconds: count('scheduleTimeoutSeconds')
      .default(600)
      .describe('A group not fully scheduled within this is deleted and recreated. Default 600.'),
    drainSeconds: z.int().min(0).default(30).describe('Time between removing a group from routing and deleting it. Default 30.'),
    terminationGracePeriodSeconds: z.int().min(0).default(300).describe('SIGTERM → SIGKILL; running requests finish in it. Default 300.'),
  })
  .prefault({});

export const RouterSpecSchema = z
  .object({
    replicas: z.int().min(0).default(2).describe('Router pods. Default 2.'),
    image: z.string().optional().describe('Router image (default: spec.image).'),
    apiKeySecret: secretKeyRef('api-key')
      .optional()
      .describe('Secret whose key holds the router API keys as JSON ([{id, key, tenant?, requestsPerMinute?, tokensPerMinute?}]), passed to the router as TANDEM_API_KEYS.'),
  })
  .prefault({});

export const ModelDeploymentSpecSchema = z
  .object({
    model: ModelSpecSchema,
    image: z.string().default('ghcr.io/tandem-dev/tandem:0.1.0').describe('Image with the tandem shard and router.'),
    parallelism: ParallelismSchema,
    replicas: z.int().min(0).default(1).describe('Shard groups (replicas). Scaled by kubectl scale / HPA / KEDA. Default 1.'),
    autoscaling: AutoscalingSchema.optional().describe('When set, an HPA or KEDA ScaledObject scales spec.replicas.'),
    engine: EngineSpecSchema,
    resources: ResourcesSchema,
    scheduling: SchedulingSchema,
    router: RouterSpecSchema,
  })
  .meta({
    'x-kubernetes-validations': [
      {
        // Missing fields take their defaults (gpusPerPod 1, backend cuda), so a missing one passes.
        rule:
          '!has(self.parallelism) || !has(self.parallelism.gpusPerPod) || self.parallelism.gpusPerPod <= 1 || ' +
          '!has(self.engine) || !has(self.engine.backend) || self.engine.backend == "cuda"',
        message: GPUS_PER_POD_NEEDS_CUDA,
        fieldPath: '.parallelism.gpusPerPod',
      },
    ],
  })
  .refine((s) => s.parallelism.gpusPerPod <= 1 || s.engine.backend === 'cuda', {
    message: GPUS_PER_POD_NEEDS_CUDA,
    path: ['parallelism', 'gpusPerPod'],
  });
export type ModelDeploymentSpec = z.infer<typeof ModelDeploymentSpecSchema>;
export type ModelDeploymentSpecInput = z.input<typeof ModelDeploymentSpecSchema>;

export const ConditionSchema = z.object({
  type: z.string(),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  lastTransitionTime: z.string(),
  observedGeneration: z.int().optional(),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const GROUP_PHASES = ['Pending', 'Starting', 'Ready', 'Failed', 'Draining'] as const;
export const GroupStatusSchema = z.object({
  name: z.string(),
  phase: z.enum(GROUP_PHASES),
  revision: z.string(),
  readyPods: z.int(),
  pods: z.int(),
  message: z.string().optional(),
});
export type GroupStatus = z.infer<typeof GroupStatusSchema>;

export const ModelDeploymentStatusSchema = z.object({
  observedGeneration: z.int().optional(),
  replicas: z.int().optional().describe('Shard groups that exist (not draining).'),
  readyReplicas: z.int().optional().describe('Shard groups with every rank ready.'),
  selector: z.string().optional().describe('Label selector of rank-0 pods (scale subresource).'),
  endpoint: z.string().optional().describe('Router gRPC endpoint (host:port).'),
  conditions: z.array(ConditionSchema).optional(),
  groups: z.array(GroupStatusSchema).optional(),
});
export type ModelDeploymentStatus = z.infer<typeof ModelDeploymentStatusSchema>;

export const ObjectMetaSchema = z.looseObject({
  name: z.string().min(1).max(40, 'name must be at most 40 characters (pod names append group and rank)'),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  generation: z.int().optional(),
  resourceVersion: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  finalizers: z.array(z.string()).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** A whole ModelDeployment as read from a file or the apiserver (spec defaults applied on parse). */
export const ModelDeploymentSchema = z.object({
  apiVersion: z.literal(MODEL_DEPLOYMENT_API_VERSION),
  kind: z.literal(MODEL_DEPLOYMENT_KIND),
  metadata: ObjectMetaSchema,
  spec: ModelDeploymentSpecSchema,
  status: ModelDeploymentStatusSchema.optional(),
});
export type ModelDeployment = z.infer<typeof ModelDeploymentSchema>;
