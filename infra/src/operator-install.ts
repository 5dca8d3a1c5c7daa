// The operator install as plain objects: Namespace, CRD, RBAC (least privilege), Deployment.
// The OperatorInstall construct renders these, and charts/tandem's templates must render the same
// (a test compares them with `helm template` output).
import { type OperatorValues, type OperatorValuesInput, OperatorValuesSchema, formatZodError, modelDeploymentCrd } from '@tandem/schemas';

export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

export const OPERATOR_NAME = 'tandem-operator';

export function resolveOperatorValues(input: OperatorValuesInput = {}): OperatorValues {
  const r = OperatorValuesSchema.safeParse(input);
  if (!r.success) throw new Error(`invalid operator install props:\n${formatZodError(r.error)}`);
  return r.data;
}

function labels(): Record<string, string> {
  return { 'app.kubernetes.io/name': OPERATOR_NAME, 'app.kubernetes.io/part-of': 'tandem' };
}

const CHILD_VERBS = ['get', 'create', 'patch', 'delete'];

/**
 * Cluster-wide rules: exactly what reconcile reads and writes (see operators/model-operator).
 * Nothing on roles/rolebindings or endpointslices: the operator creates no RBAC objects (the router
 * discovers engines over DNS and is granted nothing), so it needs neither those writes nor the
 * permissions RBAC would require it to hold before granting them.
 */
export function operatorClusterRules(): Array<Record<string, string[]>> {
  return [
    { apiGroups: ['tandem.dev'], resources: ['modeldeployments'], verbs: ['get', 'list', 'watch', 'patch'] },
    { apiGroups: ['tandem.dev'], resources: ['modeldeployments/status'], verbs: ['get', 'patch'] },
    // ownerReferences with blockOwnerDeletion need update on the owner's finalizers.
    { apiGroups: ['tandem.dev'], resources: ['modeldeployments/finalizers'], verbs: ['update'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'delete'] },
    { apiGroups: [''], resources: ['services', 'serviceaccounts'], verbs: CHILD_VERBS },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: ['apps'], resources: ['deployments'], verbs: CHILD_VERBS },
    { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: CHILD_VERBS },
    { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: CHILD_VERBS },
    { apiGroups: ['keda.sh'], resources: ['scaledobjects'], verbs: CHILD_VERBS },
    { apiGroups: ['monitoring.coreos.com'], resources: ['servicemonitors'], verbs: CHILD_VERBS },
  ];
}

export function operatorInstallObjects(input: OperatorValuesInput = {}): K8sObject[] {
  const v = resolveOperatorValues(input);
  const ns = v.namespace;
  const meta = (name: string, namespaced = true) => ({ name, ...(namespaced ? { namespace: ns } : {}), labels: labels() });
  return [
    modelDeploymentCrd() as K8sObject,
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(OPERATOR_NAME) },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: meta(OPERATOR_NAME, false), rules: operatorClusterRules() },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: meta(OPERATOR_NAME, false),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: OPERATOR_NAME },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: ns }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: meta(`${OPERATOR_NAME}-leader-election`),
      rules: [{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: meta(`${OPERATOR_NAME}-leader-election`),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${OPERATOR_NAME}-leader-election` },
      subjects: [{ kind: 'ServiceAccount', name: OPERATOR_NAME, namespace: ns }],
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(OPERATOR_NAME),
      spec: {
        replicas: v.replicas,
        selector: { matchLabels: { 'app.kubernetes.io/name': OPERATOR_NAME } },
        template: {
          metadata: { labels: labels() },
          spec: {
            serviceAccountName: OPERATOR_NAME,
            securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'operator',
                image: `${v.image.repository}:${v.image.tag}`,
                imagePullPolicy: v.image.pullPolicy,
                args: ['operator', 'run'],
                env: [
                  { name: 'TANDEM_OPERATOR_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'TANDEM_OPERATOR_IDENTITY', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'TANDEM_OPERATOR_LEADER_ELECTION', value: String(v.leaderElection) },
                  { name: 'TANDEM_LOG_LEVEL', value: v.logLevel },
                ],
                resources: {
                  requests: { cpu: v.resources.cpu, memory: v.resources.memory },
                  limits: { cpu: v.resources.cpu, memory: v.resources.memory },
                },
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              },
            ],
          },
        },
      },
    },
  ];
}
