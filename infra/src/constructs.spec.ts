import { App, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { AutoscaledModelDeployment, OperatorInstall, chartOf } from './constructs.js';

type Obj = Record<string, any>;
const synth = (build: (c: any) => void): Obj[] => Testing.synth(chartOf(Testing.app(), 't', build)) as Obj[];
const byKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);

describe('OperatorInstall defaults', () => {
  const objs = synth((c) => new OperatorInstall(c, 'i'));
  const deploy = byKind(objs, 'Deployment')[0]!;
  const container = deploy.spec.template.spec.containers[0];
  const env = Object.fromEntries(container.env.map((e: Obj) => [e.name, e.value ?? e.valueFrom.fieldRef.fieldPath]));

  it('creates namespace, CRD, RBAC and the Deployment in tandem-system', () => {
    expect(objs.map((o) => o.kind)).toEqual(['Namespace', 'CustomResourceDefinition', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'Deployment']);
    expect(byKind(objs, 'Namespace')[0]!.metadata.name).toBe('tandem-system');
    expect(deploy.metadata.namespace).toBe('tandem-system');
  });
  it('image ghcr.io/tandem-dev/tandem:0.1.0, IfNotPresent', () => {
    expect(container.image).toBe('ghcr.io/tandem-dev/tandem:0.1.0');
    expect(container.imagePullPolicy).toBe('IfNotPresent');
  });
  it('2 replicas with leader election, log level info', () => {
    expect(deploy.spec.replicas).toBe(2);
    expect(env).toMatchObject({ TANDEM_OPERATOR_LEADER_ELECTION: 'true', TANDEM_LOG_LEVEL: 'info', TANDEM_OPERATOR_NAMESPACE: 'metadata.namespace', TANDEM_OPERATOR_IDENTITY: 'metadata.name' });
  });
  it('200m CPU / 256Mi, non-root, read-only root', () => {
    expect(container.resources).toEqual({ requests: { cpu: '200m', memory: '256Mi' }, limits: { cpu: '200m', memory: '256Mi' } });
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(deploy.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
  });
  it('grants no wildcard and no secrets access', () => {
    const rules = byKind(objs, 'ClusterRole')[0]!.rules as Obj[];
    expect(JSON.stringify(rules)).not.toContain('*');
    expect(rules.flatMap((r) => r.resources)).not.toContain('secrets');
  });
  it('the operator may not create RBAC objects or read EndpointSlices (it creates no Role for the router)', () => {
    const rules = byKind(objs, 'ClusterRole')[0]!.rules as Obj[];
    const resources = rules.flatMap((r) => r.resources as string[]);
    for (const r of ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings', 'endpointslices']) expect(resources).not.toContain(r);
    expect(rules.flatMap((r) => r.apiGroups as string[])).not.toContain('rbac.authorization.k8s.io');
    // The install's only namespaced Role is the operator's own leader election, on leases.
    expect(byKind(objs, 'Role').map((r) => r.rules)).toEqual([[{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]]);
  });
  it('props override defaults; createNamespace false drops the Namespace', () => {
    const o = synth((c) => new OperatorInstall(c, 'i', { namespace: 'ops', replicas: 1, leaderElection: false, createNamespace: false, image: { tag: '9.9.9' } }));
    expect(o.map((x) => x.kind)).not.toContain('Namespace');
    const d = byKind(o, 'Deployment')[0]!;
    expect(d.metadata.namespace).toBe('ops');
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.template.spec.containers[0].image).toBe('ghcr.io/tandem-dev/tandem:9.9.9');
  });
  it('bad props fail naming the prop', () => {
    expect(() => synth((c) => new OperatorInstall(c, 'i', { replicas: 0, logLevel: 'loud' as never }))).toThrow(/replicas[\s\S]*logLevel/);
  });
});

describe('AutoscaledModelDeployment', () => {
  const spec = { model: { name: 'command-a', source: { pvc: { claimName: 'w' } } }, parallelism: { tensor: 2 }, autoscaling: { maxReplicas: 4 } };
  it('defaults: HPA, min 1, queue depth 8 per replica, KV 0.8, 300 s scale-down window, namespace default', () => {
    const [md, hpa] = synth((c) => new AutoscaledModelDeployment(c, 'm', { name: 'cmd', spec }));
    expect(md).toMatchObject({ kind: 'ModelDeployment', metadata: { name: 'cmd', namespace: 'default' } });
    expect(hpa).toMatchObject({ kind: 'HorizontalPodAutoscaler', spec: { minReplicas: 1, maxReplicas: 4, scaleTargetRef: { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', name: 'cmd' } } });
    expect(hpa!.spec.metrics.map((m: Obj) => m.object.target)).toEqual([{ type: 'AverageValue', averageValue: '8' }, { type: 'Value', value: '800m' }]);
    expect(hpa!.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
  });
  it('engine keda gives a ScaledObject on the same series', () => {
    const objs = synth((c) => new AutoscaledModelDeployment(c, 'm', { name: 'cmd', namespace: 'ml', spec: { ...spec, autoscaling: { engine: 'keda', minReplicas: 2, maxReplicas: 4 } } }));
    const so = byKind(objs, 'ScaledObject')[0]!;
    expect(so.spec).toMatchObject({ minReplicaCount: 2, maxReplicaCount: 4 });
    expect(so.spec.triggers[0].metadata.query).toBe('sum(tandem_router_queue_depth{namespace="ml",model_deployment="cmd"})');
  });
  it('invalid props name the field', () => {
    expect(() => synth((c) => new AutoscaledModelDeployment(c, 'm', { name: 'cmd', spec: { ...spec, autoscaling: { minReplicas: 5, maxReplicas: 4 } } }))).toThrow(/spec\.autoscaling\.minReplicas: minReplicas must be <= maxReplicas/);
  });
  it('App synthYaml works in-process', () => {
    const app = new App();
    chartOf(app, 'x', (c) => new AutoscaledModelDeployment(c, 'm', { name: 'cmd', spec }));
    expect(app.synthYaml()).toContain('kind: HorizontalPodAutoscaler');
  });
});
