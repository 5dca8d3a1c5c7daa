// The operator against a real kube-apiserver + etcd: CRD validation, server-side apply, watches,
// the status and scale subresources, finalizers and RBAC are the real ones. Skips (saying why)
// when neither the cached binaries nor TANDEM_IT_KUBECONFIG are available.
import { execFileSync } from 'node:child_process';
import * as k8s from '@kubernetes/client-node';
import { createLogger } from '@tandem/kit';
import { operatorInstallObjects } from '@tandem/infra';
import { TOKEN_SECRET_NEEDS_HF_URI } from '@tandem/schemas';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelDeploymentController } from '../../src/controller/controller.js';
import { LeaderElector } from '../../src/controller/leader.js';
import { FIELD_MANAGER } from '../../src/reconcile/names.js';
import { FakeKubelet, type TestEnv, startEnv, unavailableReason } from './envtest.js';

const skipReason = unavailableReason();
if (skipReason !== undefined) console.warn(`[operator integration] skipped: ${skipReason}`);

const NS = `tmd-it-${Date.now().toString(36)}`;
const G = { group: 'tandem.dev', version: 'v1alpha1', plural: 'modeldeployments' };
type Obj = Record<string, any>;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe.skipIf(skipReason !== undefined)('operator on a real kube-apiserver', () => {
  let env: TestEnv;
  let objects: k8s.KubernetesObjectApi;
  let core: k8s.CoreV1Api;
  let custom: k8s.CustomObjectsApi;
  let controller: ModelDeploymentController;
  let kubelet: FakeKubelet;
  const pods = async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: 'tandem.dev/deployment=cmd' })).items;
  const md = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'cmd' })) as Obj;
  const cond = (o: Obj, type: string) => (o.status?.conditions ?? []).find((c: Obj) => c.type === type);

  beforeAll(async () => {
    env = await startEnv();
    objects = k8s.KubernetesObjectApi.makeApiClient(env.admin);
    core = env.admin.makeApiClient(k8s.CoreV1Api);
    custom = env.admin.makeApiClient(k8s.CustomObjectsApi);
    // Install exactly what the chart/cdk8s install does (CRD, ClusterRole, ...), minus the
    // Deployment (no kubelet runs it); the controller runs here as a user bound to that ClusterRole.
    const install: object[] = operatorInstallObjects({ namespace: NS, leaderElection: false }).filter((o) => o.kind !== 'Deployment');
    // A stand-in for Prometheus Operator's CRD, so the operator sees the API and adds a ServiceMonitor.
    install.push({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { kind: 'ServiceMonitor', plural: 'servicemonitors', listKind: 'ServiceMonitorList', singular: 'servicemonitor' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    });
    await core.createNamespace({ body: { metadata: { name: NS } } });
    // Through kubectl, as a user installs it: client-node's typed serializer would drop the CRD's
    // x-kubernetes-* extensions (it reads camelCase model fields).
    execFileSync('kubectl', ['--kubeconfig', env.kubeconfigPath, 'apply', '--server-side', '-f', '-'], { input: install.map((o) => JSON.stringify(o)).join('\n'), encoding: 'utf8' });
    if (env.operatorUser !== undefined) {
      await objects.patch(
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'tandem-operator-it' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'tandem-operator' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: env.operatorUser }] } as k8s.KubernetesObject,
        undefined, undefined, 'it', true, k8s.PatchStrategy.ServerSideApply,
      );
    }
    const ext = env.admin.makeApiClient(k8s.ApiextensionsV1Api);
    for (const name of ['modeldeployments.tandem.dev', 'servicemonitors.monitoring.coreos.com']) {
      await until(`CRD ${name} established`, async () => {
        const crd = await ext.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      });
    }
    kubelet = new FakeKubelet(env.admin, NS);
    kubelet.start();
    controller = new ModelDeploymentController({ kubeConfig: env.operator ?? env.admin, logger: createLogger({ component: 'operator-it', level: 'warn' }) });
    await controller.start();
  }, 180_000);

  afterAll(async () => {
    kubelet?.stop();
    await controller?.stop();
    await core?.deleteNamespace({ name: NS }).catch(() => undefined);
    await env?.stop();
  });

  it('the CRD rejects invalid objects with field paths', async () => {
    const bad = { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'bad', namespace: NS }, spec: { model: { name: 'm', source: { hostPath: { path: '/a' }, uri: 'hf://a/b' } }, parallelism: { tensor: 3, gpusPerPod: 2 }, replicas: -1 } };
    const err = await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: bad }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(k8s.ApiException);
    const message = String((err as k8s.ApiException<unknown>).body);
    expect((err as k8s.ApiException<unknown>).code).toBe(422);
    expect(message).toContain('spec.replicas');
    expect(message).toContain('spec.model.source');
    expect(message).toContain('exactly one of pvc, hostPath, uri must be set');
    expect(message).toContain('tensor must be a multiple of gpusPerPod');
  });

  it('the CRD refuses at apply time what the engine does not do yet, each with its reason', async () => {
    const model = { name: 'm', source: { hostPath: { path: '/a' } } };
    const refusal = async (name: string, spec: Obj) => {
      const body = { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name, namespace: NS }, spec };
      const err = await custom.createNamespacedCustomObject({ ...G, namespace: NS, body }).then(() => undefined, (e: unknown) => e);
      expect(err, name).toBeInstanceOf(k8s.ApiException);
      expect((err as k8s.ApiException<unknown>).code).toBe(422);
      return String((JSON.parse(String((err as k8s.ApiException<unknown>).body)) as Obj).message);
    };
    const prefix = await refusal('prefix', { model, engine: { prefixCaching: true } });
    expect(prefix).toContain('spec.engine.prefixCaching');
    expect(prefix).toContain('Not implemented yet: the engine does not reuse KV blocks across requests');
    const merge = await refusal('merge', { model: { ...model, merge: [{ source: { hostPath: { path: '/b' } }, weight: 0.5 }] } });
    expect(merge).toContain('spec.model.merge');
    expect(merge).toContain('merge is not implemented yet');
    const gpus = await refusal('gpus', { model, parallelism: { tensor: 2, gpusPerPod: 2 }, engine: { backend: 'cpu' } });
    expect(gpus).toContain('spec.parallelism.gpusPerPod');
    expect(gpus).toContain('gpusPerPod > 1 requires engine.backend cuda');
    // The defaults themselves pass: prefixCaching false, dtype auto, gpusPerPod 1.
    const ok = await custom.createNamespacedCustomObject({
      ...G, namespace: NS, dryRun: 'All',
      body: { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'defaults', namespace: NS }, spec: { model, engine: { backend: 'cpu' } } },
    }) as Obj;
    expect(ok.spec.engine).toMatchObject({ backend: 'cpu', dtype: 'auto', prefixCaching: false, kvMemoryFraction: 0.9 });
    expect(ok.spec.parallelism).toEqual({ tensor: 1, gpusPerPod: 1 });
  });

  it('tensor 2 × replicas 2 gives two groups of two pods, services, PDB, HPA and a Ready status', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: NS,
      body: { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'cmd', namespace: NS }, spec: { model: { name: 'command-a', source: { pvc: { claimName: 'w' } } }, parallelism: { tensor: 2 }, replicas: 2, autoscaling: { maxReplicas: 4 }, scheduling: { drainSeconds: 1 } } },
    });
    const ready = await until('Ready=True', async () => {
      const o = await md();
      return cond(o, 'Ready')?.status === 'True' ? o : undefined;
    }, 60_000);
    expect(ready.status).toMatchObject({ replicas: 2, readyReplicas: 2, endpoint: `cmd-router.${NS}.svc:50051`, selector: 'tandem.dev/deployment=cmd,tandem.dev/pod-index=0', observedGeneration: 1 });
    expect(ready.metadata.finalizers).toEqual(['tandem.dev/cleanup']);
    const names = (await pods()).map((p) => p.metadata!.name).sort();
    expect(names).toEqual(['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1']);
    const p = (await pods()).find((x) => x.metadata!.name === 'cmd-1-1')!;
    const env_ = Object.fromEntries(p.spec!.containers[0]!.env!.map((e) => [e.name, e.value]));
    expect(env_).toMatchObject({ TANDEM_RANK: '1', TANDEM_WORLD_SIZE: '2', TANDEM_LEADER_ADDR: `cmd-1-0.cmd-shards.${NS}.svc:50071` });
    expect(p.metadata!.managedFields?.some((f) => f.manager === FIELD_MANAGER)).toBe(true);
    for (const [apiVersion, kind, name] of [
      ['v1', 'Service', 'cmd-shards'],
      ['v1', 'Service', 'cmd-engine'],
      ['v1', 'Service', 'cmd-router'],
      ['apps/v1', 'Deployment', 'cmd-router'],
      ['policy/v1', 'PodDisruptionBudget', 'cmd-shards'],
      ['autoscaling/v2', 'HorizontalPodAutoscaler', 'cmd'],
      ['monitoring.coreos.com/v1', 'ServiceMonitor', 'cmd-router'],
    ] as const) {
      const o = (await objects.read({ apiVersion, kind, metadata: { name, namespace: NS } })) as Obj;
      expect(o.metadata.ownerReferences?.[0]?.kind, `${kind}/${name}`).toBe('ModelDeployment');
    }
    // Printer columns, through kubectl.
    const table = execFileSync('kubectl', ['--kubeconfig', env.kubeconfigPath, '-n', NS, 'get', 'tmd', 'cmd'], { encoding: 'utf8' });
    expect(table.split('\n')[0]).toMatch(/^NAME\s+READY\s+REPLICAS\s+TP\s+MODEL\s+ENDPOINT\s+AGE/);
    expect(table.split('\n')[1]).toMatch(new RegExp(`^cmd\\s+True\\s+2\\s+2\\s+command-a\\s+cmd-router\\.${NS}\\.svc:50051`));
  });

  it('least privilege: no RBAC objects created, no API token in router or shard pods, which run as non-root, the operator cannot grant or read EndpointSlices', async () => {
    const rbac = env.admin.makeApiClient(k8s.RbacAuthorizationV1Api);
    const selector = 'tandem.dev/deployment=cmd';
    expect((await rbac.listNamespacedRole({ namespace: NS, labelSelector: selector })).items).toEqual([]);
    expect((await rbac.listNamespacedRoleBinding({ namespace: NS, labelSelector: selector })).items).toEqual([]);
    const sa = await core.readNamespacedServiceAccount({ namespace: NS, name: 'cmd-router' });
    expect(sa.automountServiceAccountToken).toBe(false);
    const router = (await objects.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'cmd-router', namespace: NS } })) as Obj;
    expect(router.spec.template.spec).toMatchObject({ serviceAccountName: 'cmd-router', automountServiceAccountToken: false });
    for (const p of await pods()) expect(p.spec!.automountServiceAccountToken, p.metadata!.name).toBe(false);
    // Non-root, as stored by a real apiserver (which drops a misspelled or misplaced field).
    const podSc = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } };
    const containerSc = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
    const specs: Array<[string, k8s.V1PodSpec]> = [['cmd-router', router.spec.template.spec], ...(await pods()).map((p): [string, k8s.V1PodSpec] => [p.metadata!.name!, p.spec!])];
    expect(specs).toHaveLength(5);
    for (const [name, spec] of specs) {
      expect(spec.securityContext, name).toMatchObject(podSc);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.securityContext, `${name}/${c.name}`).toMatchObject(containerSc);
    }
    if (env.operatorUser === undefined) return;
    // Ask the apiserver's own authorizer what the operator's ClusterRole allows.
    const authz = env.admin.makeApiClient(k8s.AuthorizationV1Api);
    const may = async (verb: string, group: string, resource: string) =>
      (await authz.createSubjectAccessReview({ body: { spec: { user: env.operatorUser, resourceAttributes: { namespace: NS, verb, group, resource } } } })).status?.allowed === true;
    expect(await may('create', 'rbac.authorization.k8s.io', 'roles')).toBe(false);
    expect(await may('delete', 'rbac.authorization.k8s.io', 'rolebindings')).toBe(false);
    expect(await may('list', 'discovery.k8s.io', 'endpointslices')).toBe(false);
    // HF token secrets reach the fetch init container through the kubelet (secretKeyRef): the operator never reads them.
    for (const verb of ['get', 'list', 'watch']) expect(await may(verb, '', 'secrets'), `${verb} secrets`).toBe(false);
    expect(await may('patch', 'apps', 'deployments')).toBe(true);
  });

  it('scaling through the scale subresource adds a group', async () => {
    await custom.patchNamespacedCustomObjectScale({ ...G, namespace: NS, name: 'cmd', body: { spec: { replicas: 3 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await until('3 ready groups', async () => (await md()).status?.readyReplicas === 3, 60_000);
    expect((await pods()).map((p) => p.metadata!.name).sort()).toEqual(['cmd-0-0', 'cmd-0-1', 'cmd-1-0', 'cmd-1-1', 'cmd-2-0', 'cmd-2-1']);
    const scale = (await custom.getNamespacedCustomObjectScale({ ...G, namespace: NS, name: 'cmd' })) as Obj;
    expect(scale.status).toMatchObject({ replicas: 3, selector: 'tandem.dev/deployment=cmd,tandem.dev/pod-index=0' });
  });

  it('deleting one rank pod recreates its whole group', async () => {
    const before = Object.fromEntries((await pods()).map((p) => [p.metadata!.name, p.metadata!.uid]));
    await core.deleteNamespacedPod({ namespace: NS, name: 'cmd-0-1', gracePeriodSeconds: 0 });
    const degraded = await until('Degraded=True', async () => {
      const o = await md();
      return cond(o, 'Degraded')?.status === 'True' ? cond(o, 'Degraded') : undefined;
    });
    expect(degraded.reason).toBe('GroupFailed');
    await until('group cmd-0 recreated and ready', async () => {
      const now = Object.fromEntries((await pods()).map((p) => [p.metadata!.name, p.metadata!.uid]));
      const o = await md();
      return now['cmd-0-0'] !== undefined && now['cmd-0-0'] !== before['cmd-0-0'] && now['cmd-0-1'] !== undefined && o.status?.readyReplicas === 3 && cond(o, 'Ready')?.status === 'True';
    }, 60_000);
    const after = Object.fromEntries((await pods()).map((p) => [p.metadata!.name, p.metadata!.uid]));
    expect(after['cmd-1-0']).toBe(before['cmd-1-0']);
    expect(cond(await md(), 'Degraded')).toMatchObject({ status: 'False', reason: 'AsExpected' });
    const events = await core.listNamespacedEvent({ namespace: NS, fieldSelector: 'involvedObject.name=cmd' });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['GroupFailed', 'AllGroupsReady']));
  });

  it('scale-down drains a group, then deletes it', async () => {
    await custom.patchNamespacedCustomObjectScale({ ...G, namespace: NS, name: 'cmd', body: { spec: { replicas: 2 } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    await until('group cmd-2 draining', async () => (await pods()).some((p) => p.metadata!.name === 'cmd-2-0' && p.metadata!.labels?.['tandem.dev/serving'] === 'false'));
    await until('group cmd-2 gone', async () => (await pods()).length === 4 && cond(await md(), 'Progressing')?.reason === 'Complete', 30_000);
  });

  it('a model update rolls group by group, never below the desired ready groups', async () => {
    const before = new Set((await pods()).map((p) => p.metadata!.labels!['tandem.dev/revision']));
    await custom.patchNamespacedCustomObject(
      { ...G, namespace: NS, name: 'cmd', body: { spec: { model: { name: 'command-a-v2' } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    let minReady = Infinity;
    await until('rolled to the new revision', async () => {
      const o = await md();
      if (o.status?.observedGeneration >= 2) minReady = Math.min(minReady, o.status?.readyReplicas ?? 0);
      const revs = new Set((await pods()).map((p) => p.metadata!.labels!['tandem.dev/revision']));
      return revs.size === 1 && !before.has([...revs][0]!) && (await pods()).length === 4 && cond(o, 'Progressing')?.reason === 'Complete';
    }, 60_000);
    expect(minReady).toBeGreaterThanOrEqual(2);
    expect((await md()).status.readyReplicas).toBe(2);
  });

  it('deleting the ModelDeployment removes its pods and children, then the finalizer', async () => {
    await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'cmd' });
    await until('ModelDeployment gone', async () => (await md().then(() => false, (e: unknown) => e instanceof k8s.ApiException && e.code === 404)), 30_000);
    expect(await pods()).toEqual([]);
    const svc = await core.readNamespacedService({ namespace: NS, name: 'cmd-router' }).then(() => 'exists', () => 'gone');
    expect(svc).toBe('gone');
    expect(kubelet.errors.filter((e) => !/not found|NotFound|404/.test(e))).toEqual([]);
  });

  it('an error the operator cannot fix itself shows on the resource (KEDA not installed)', async () => {
    await custom.createNamespacedCustomObject({
      ...G,
      namespace: NS,
      body: { apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name: 'k', namespace: NS }, spec: { model: { name: 'm', source: { hostPath: { path: '/m' } } }, autoscaling: { engine: 'keda', maxReplicas: 2 } } },
    });
    const degraded = await until('Degraded=ReconcileError', async () => {
      const o = (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'k' })) as Obj;
      const c = cond(o, 'Degraded');
      return c?.reason === 'ReconcileError' ? c : undefined;
    });
    expect(degraded.message).toMatch(/spec\.autoscaling\.engine is keda but the ScaledObject CRD .* is not installed/);
    await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'k' });
  });

  it('a gated hf:// repo: HF_TOKEN by secret reference only; the group waits naming the missing secret, then starts once it exists', async () => {
    const gated = (name: string, source: Obj) => ({ apiVersion: 'tandem.dev/v1alpha1', kind: 'ModelDeployment', metadata: { name, namespace: NS }, spec: { model: { name: 'command-a', source }, engine: { backend: 'cpu' }, router: { replicas: 1 } } });
    for (const source of [{ pvc: { claimName: 'w' } }, { uri: 'https://models.example/command-a' }]) {
      const err = await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: gated('refused', { ...source, tokenSecret: { name: 'hf-token' } }) }).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(source)).toBeInstanceOf(k8s.ApiException);
      const message = String((JSON.parse(String((err as k8s.ApiException<unknown>).body)) as Obj).message);
      expect(message).toContain('spec.model.source.tokenSecret');
      expect(message).toContain(TOKEN_SECRET_NEEDS_HF_URI);
    }
    await custom.createNamespacedCustomObject({ ...G, namespace: NS, body: gated('gated', { uri: 'hf://CohereLabs/c4ai-command-a-03-2025', tokenSecret: { name: 'hf-token' } }) });
    const get = async () => (await custom.getNamespacedCustomObject({ ...G, namespace: NS, name: 'gated' })) as Obj;
    expect((await get()).spec.model.source.tokenSecret).toEqual({ name: 'hf-token', key: 'token' }); // the apiserver applied the default key
    const group = await until('the group names the missing secret', async () => {
      const g = (await get()).status?.groups?.[0] as Obj | undefined;
      return String(g?.message).includes('hf-token') ? g : undefined;
    });
    expect(group).toMatchObject({ phase: 'Starting', message: '0 of 1 pods ready; pod gated-0-0 init container fetch-model waiting: CreateContainerConfigError: secret "hf-token" not found' });
    expect(cond(await get(), 'Ready')?.status).not.toBe('True');
    // As stored by a real apiserver: the token is a reference, in the fetch init container only.
    const ref = [{ name: 'HF_TOKEN', valueFrom: { secretKeyRef: { name: 'hf-token', key: 'token', optional: false } } }];
    const pod = await core.readNamespacedPod({ namespace: NS, name: 'gated-0-0' });
    const router = (await objects.read({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'gated-router', namespace: NS } })) as Obj;
    for (const [name, spec] of [['gated-0-0', pod.spec!], ['gated-router', router.spec.template.spec]] as Array<[string, k8s.V1PodSpec]>) {
      expect(spec.initContainers?.map((c) => [c.name, c.env]), name).toEqual([['fetch-model', ref]]);
      for (const c of spec.containers) expect((c.env ?? []).map((e) => e.name), `${name}/${c.name}`).not.toContain('HF_TOKEN');
    }
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: 'hf-token' }, stringData: { token: 'hf_integration_test_token' } } });
    await until('Ready once the secret exists', async () => cond(await get(), 'Ready')?.status === 'True', 30_000);
    expect(JSON.stringify(await core.readNamespacedPod({ namespace: NS, name: 'gated-0-0' }))).not.toContain('hf_integration_test_token');
    await custom.deleteNamespacedCustomObject({ ...G, namespace: NS, name: 'gated' });
    await until('gated gone', async () => (await get().then(() => false, (e: unknown) => e instanceof k8s.ApiException && e.code === 404)), 30_000);
  });

  it('leader election: of two candidates exactly one leads; release hands over', async () => {
    const logger = createLogger({ component: 'lease-it', level: 'error' });
    const mk = (identity: string) => new LeaderElector({ kubeConfig: env.admin, namespace: NS, name: 'it-lease', identity, logger, leaseDurationS: 2, renewMs: 200 });
    const a = mk('a');
    const b = mk('b');
    await a.run(() => undefined);
    let bLeads = false;
    const bRun = b.run(() => undefined).then(() => (bLeads = true));
    await new Promise((r) => setTimeout(r, 1000));
    expect(a.isLeader).toBe(true);
    expect(bLeads).toBe(false);
    await a.release();
    await bRun;
    expect(b.isLeader).toBe(true);
    await b.release();
  });
});
