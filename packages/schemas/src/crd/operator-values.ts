// The operator install's configuration: the Helm chart's values (values.schema.json is generated
// from this) and the cdk8s OperatorInstall construct's props share it, so their defaults agree.
import { z } from 'zod';

export const OperatorValuesSchema = z.object({
  namespace: z.string().min(1).default('tandem-system').describe('Namespace the operator runs in (Helm: the release namespace).'),
  image: z
    .object({
      repository: z.string().min(1).default('ghcr.io/tandem-dev/tandem').describe('Operator image repository.'),
      tag: z.string().min(1).default('0.1.0').describe('Operator image tag.'),
      pullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).default('IfNotPresent'),
    })
    .prefault({}),
  replicas: z.int().min(1).default(2).describe('Operator pods; one leader acts (Lease), the others wait.'),
  leaderElection: z.boolean().default(true).describe('Elect a leader through a coordination.k8s.io Lease.'),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  resources: z
    .object({
      cpu: z.string().default('200m').describe('CPU request and limit.'),
      memory: z.string().default('256Mi').describe('Memory request and limit.'),
    })
    .prefault({}),
});
export type OperatorValues = z.infer<typeof OperatorValuesSchema>;
export type OperatorValuesInput = z.input<typeof OperatorValuesSchema>;

/**
 * JSON Schema (draft-07, what Helm validates values against) for charts/tandem/values.schema.json.
 * Without `namespace`: a Helm release installs into its release namespace.
 */
export function operatorValuesJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(OperatorValuesSchema.omit({ namespace: true }), { target: 'draft-7', io: 'input', reused: 'inline' }) as Record<string, unknown>;
  return { ...schema, title: 'tandem chart values' };
}
