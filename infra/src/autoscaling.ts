// The autoscaling objects of a ModelDeployment: an autoscaling/v2 HPA on the router's custom
// metrics, or a KEDA ScaledObject on the same Prometheus series. Both target the ModelDeployment's
// scale subresource. Plain builders, shared by the AutoscaledModelDeployment construct and the
// operator, so a synthesized manifest and what the operator applies are the same objects.
import type { ModelDeployment } from '@tandem/schemas';

type Obj = Record<string, unknown>;

/** Router metrics (Prometheus names) the autoscalers read. */
export const AUTOSCALING_METRICS = {
  queueDepth: 'tandem_router_queue_depth',
  kvUtilization: 'tandem_router_kv_utilization_ratio',
} as const;

function scaleTargetRef(md: ModelDeployment): Obj {
  return { apiVersion: md.apiVersion, kind: md.kind, name: md.metadata.name };
}

function routerServiceRef(md: ModelDeployment): Obj {
  return { apiVersion: 'v1', kind: 'Service', name: `${md.metadata.name}-router` };
}

/** Milli-units as a quantity string ("800m"), so a fraction survives as an exact quantity. */
function milli(value: number): string {
  return `${Math.round(value * 1000)}m`;
}

function meta(md: ModelDeployment, extra: Obj): Obj {
  return {
    name: md.metadata.name,
    namespace: md.metadata.namespace ?? 'default',
    labels: {
      'app.kubernetes.io/name': 'tandem',
      'app.kubernetes.io/instance': md.metadata.name,
      'app.kubernetes.io/component': 'autoscaler',
      'app.kubernetes.io/managed-by': 'tandem-operator',
      'tandem.dev/deployment': md.metadata.name,
    },
    ...extra,
  };
}

/**
 * HPA: queue depth is an Object metric on the router Service with an AverageValue target (the HPA
 * divides it by the current replica count: "queued requests per replica"); KV utilisation is a
 * mean ratio with a Value target.
 */
export function buildHpa(md: ModelDeployment, extraMeta: Obj = {}): Obj {
  const a = md.spec.autoscaling;
  if (a === undefined) throw new Error(`ModelDeployment ${md.metadata.name}: spec.autoscaling is not set`);
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(md, extraMeta),
    spec: {
      scaleTargetRef: scaleTargetRef(md),
      minReplicas: a.minReplicas,
      maxReplicas: a.maxReplicas,
      metrics: [
        {
          type: 'Object',
          object: {
            describedObject: routerServiceRef(md),
            metric: { name: AUTOSCALING_METRICS.queueDepth },
            target: { type: 'AverageValue', averageValue: String(a.queueDepthPerReplica) },
          },
        },
        {
          type: 'Object',
          object: {
            describedObject: routerServiceRef(md),
            metric: { name: AUTOSCALING_METRICS.kvUtilization },
            target: { type: 'Value', value: milli(a.kvUtilization) },
          },
        },
      ],
      behavior: {
        scaleDown: {
          stabilizationWindowSeconds: a.scaleDownStabilizationSeconds,
          // One group at a time: each removal drains a whole shard group.
          policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }],
        },
      },
    },
  };
}

/** KEDA ScaledObject with two Prometheus triggers on the same router series as the HPA. */
export function buildScaledObject(md: ModelDeployment, extraMeta: Obj = {}): Obj {
  const a = md.spec.autoscaling;
  if (a === undefined) throw new Error(`ModelDeployment ${md.metadata.name}: spec.autoscaling is not set`);
  const sel = `namespace="${md.metadata.namespace ?? 'default'}",model_deployment="${md.metadata.name}"`;
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: meta(md, extraMeta),
    spec: {
      scaleTargetRef: scaleTargetRef(md),
      minReplicaCount: a.minReplicas,
      maxReplicaCount: a.maxReplicas,
      advanced: {
        horizontalPodAutoscalerConfig: {
          behavior: {
            scaleDown: { stabilizationWindowSeconds: a.scaleDownStabilizationSeconds, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
          },
        },
      },
      triggers: [
        {
          type: 'prometheus',
          name: 'queue-depth',
          metricType: 'AverageValue',
          metadata: {
            serverAddress: a.prometheusAddress,
            query: `sum(${AUTOSCALING_METRICS.queueDepth}{${sel}})`,
            threshold: String(a.queueDepthPerReplica),
          },
        },
        {
          type: 'prometheus',
          name: 'kv-utilization',
          metricType: 'Value',
          metadata: {
            serverAddress: a.prometheusAddress,
            query: `avg(${AUTOSCALING_METRICS.kvUtilization}{${sel}})`,
            threshold: String(a.kvUtilization),
          },
        },
      ],
    },
  };
}

/** The autoscaler object for md (HPA or ScaledObject), or undefined when autoscaling is off. */
export function buildAutoscaler(md: ModelDeployment, extraMeta: Obj = {}): Obj | undefined {
  if (md.spec.autoscaling === undefined) return undefined;
  return md.spec.autoscaling.engine === 'keda' ? buildScaledObject(md, extraMeta) : buildHpa(md, extraMeta);
}
