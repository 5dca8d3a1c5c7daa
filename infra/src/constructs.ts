// cdk8s constructs: the operator install and an autoscaled ModelDeployment. Props are readonly
// and documented with their defaults; defaults are applied in one place (the zod schemas in
// @tandem/schemas), and invalid props fail with the prop's path.
import { ApiObject, Chart, type ChartProps } from 'cdk8s';
import { Construct } from 'constructs';
import {
  MODEL_DEPLOYMENT_API_VERSION,
  MODEL_DEPLOYMENT_KIND,
  type ModelDeployment,
  ModelDeploymentSchema,
  type ModelDeploymentSpecInput,
  type OperatorValuesInput,
  formatZodError,
} from '@tandem/schemas';
import { buildAutoscaler } from './autoscaling.js';
import { type K8sObject, operatorInstallObjects } from './operator-install.js';

/** Adds plain objects as ApiObjects, ids from kind + name so they stay stable. */
export function addObjects(scope: Construct, objects: readonly K8sObject[]): ApiObject[] {
  return objects.map((o) => {
    // ApiObjectProps carries any extra top-level fields (spec, rules, roleRef, ...) as given.
    return new ApiObject(scope, `${o.kind}-${o.metadata.name}`, structuredClone(o));
  });
}

export interface OperatorInstallProps extends OperatorValuesInput {
  /** Also create the Namespace object. Default true (Helm installs into an existing namespace). */
  readonly createNamespace?: boolean;
}

/**
 * The operator install: ModelDeployment CRD, ServiceAccount, ClusterRole/Binding (least
 * privilege), leader-election Role/Binding and the operator Deployment.
 * Defaults (OperatorValuesSchema): namespace tandem-system, image ghcr.io/tandem-dev/tandem:0.1.0
 * (IfNotPresent), 2 replicas with Lease leader election, log level info, 200m CPU / 256Mi.
 */
export class OperatorInstall extends Construct {
  readonly objects: ApiObject[];
  constructor(scope: Construct, id: string, props: OperatorInstallProps = {}) {
    super(scope, id);
    const { createNamespace = true, ...values } = props;
    const objects = operatorInstallObjects(values);
    const ns = objects.find((o) => o.kind === 'Deployment')?.metadata.namespace ?? 'tandem-system';
    this.objects = addObjects(this, [
      ...(createNamespace ? [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }] : []),
      ...objects,
    ]);
  }
}

export interface AutoscaledModelDeploymentProps {
  /** metadata.name of the ModelDeployment (at most 40 characters). */
  readonly name: string;
  /** Default "default". */
  readonly namespace?: string;
  /** The spec; `autoscaling` is required here (default engine hpa, min 1, queue depth 8, KV 0.8). */
  readonly spec: ModelDeploymentSpecInput & { autoscaling: NonNullable<ModelDeploymentSpecInput['autoscaling']> };
}

/**
 * A ModelDeployment with its autoscaler (HPA autoscaling/v2, or a KEDA ScaledObject when
 * spec.autoscaling.engine is keda), built by the same function the operator uses, so applying
 * this next to a running operator is a no-op for the autoscaler.
 */
export class AutoscaledModelDeployment extends Construct {
  readonly modelDeployment: ModelDeployment;
  constructor(scope: Construct, id: string, props: AutoscaledModelDeploymentProps) {
    super(scope, id);
    const metadata = { name: props.name, namespace: props.namespace ?? 'default' };
    const parsed = ModelDeploymentSchema.safeParse({ apiVersion: MODEL_DEPLOYMENT_API_VERSION, kind: MODEL_DEPLOYMENT_KIND, metadata, spec: props.spec });
    if (!parsed.success) throw new Error(`AutoscaledModelDeployment ${props.name}: invalid props:\n${formatZodError(parsed.error)}`);
    this.modelDeployment = parsed.data;
    const autoscaler = buildAutoscaler(parsed.data) as K8sObject;
    // The resource as the user wrote it (the apiserver applies the defaults), plus the autoscaler.
    addObjects(this, [{ apiVersion: MODEL_DEPLOYMENT_API_VERSION, kind: MODEL_DEPLOYMENT_KIND, metadata, spec: props.spec }, autoscaler]);
  }
}

/** A Chart holding only the given construct factory: convenience for synth and tests. */
export function chartOf(app: Construct, id: string, build: (chart: Chart) => void, props: ChartProps = {}): Chart {
  const chart = new Chart(app, id, { disableResourceNameHashes: true, ...props });
  build(chart);
  return chart;
}
