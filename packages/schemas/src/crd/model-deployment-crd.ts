// The CustomResourceDefinition object for ModelDeployment, built from the zod schemas. One source
// for the Helm chart's crds/, the cdk8s operator install and the integration tests.
import {
  MODEL_DEPLOYMENT_GROUP,
  MODEL_DEPLOYMENT_KIND,
  MODEL_DEPLOYMENT_PLURAL,
  MODEL_DEPLOYMENT_VERSION,
  ModelDeploymentSpecSchema,
  ModelDeploymentStatusSchema,
} from './model-deployment.js';
import { type JsonSchema, zodToCrdSchema } from './crd-schema.js';

export const MODEL_DEPLOYMENT_CRD_NAME = `${MODEL_DEPLOYMENT_PLURAL}.${MODEL_DEPLOYMENT_GROUP}`;

export function modelDeploymentOpenApiSchema(): JsonSchema {
  return {
    type: 'object',
    description: 'A model served by tensor-parallel shard groups behind a router (Tandem).',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: { type: 'object' },
      spec: zodToCrdSchema(ModelDeploymentSpecSchema),
      status: zodToCrdSchema(ModelDeploymentStatusSchema),
    },
    required: ['spec'],
  };
}

/** The full apiextensions.k8s.io/v1 CustomResourceDefinition as a plain object. */
export function modelDeploymentCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: MODEL_DEPLOYMENT_CRD_NAME,
      labels: { 'app.kubernetes.io/part-of': 'tandem' },
    },
    spec: {
      group: MODEL_DEPLOYMENT_GROUP,
      scope: 'Namespaced',
      names: {
        kind: MODEL_DEPLOYMENT_KIND,
        listKind: `${MODEL_DEPLOYMENT_KIND}List`,
        plural: MODEL_DEPLOYMENT_PLURAL,
        singular: 'modeldeployment',
        shortNames: ['tmd'],
        categories: ['tandem'],
      },
      versions: [
        {
          name: MODEL_DEPLOYMENT_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: modelDeploymentOpenApiSchema() },
          subresources: {
            status: {},
            scale: {
              specReplicasPath: '.spec.replicas',
              statusReplicasPath: '.status.replicas',
              labelSelectorPath: '.status.selector',
            },
          },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas', description: 'desired shard groups' },
            { name: 'TP', type: 'integer', jsonPath: '.spec.parallelism.tensor' },
            { name: 'Model', type: 'string', jsonPath: '.spec.model.name' },
            { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
        },
      ],
    },
  };
}
