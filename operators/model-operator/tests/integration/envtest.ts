// envtest-style harness: a real etcd + kube-apiserver on loopback (binaries built from the Go
// module proxy by scripts/build-k8s-bins.sh and cached in ~/.cache/tandem/k8s), or any cluster
// named by TANDEM_IT_KUBECONFIG. No kubelet/scheduler/controller-manager runs: FakeKubelet plays
// the node through the API the way a kubelet would (bind, report status, finish deletions).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'build-k8s-bins.sh');

export interface TestEnv {
  /** Cluster-admin credentials. */
  readonly admin: k8s.KubeConfig;
  /** Credentials of the user `tandem-operator-it` (bound to the operator's ClusterRole by the test). */
  readonly operator: k8s.KubeConfig | undefined;
  readonly operatorUser: string | undefined;
  /** A kubeconfig file for kubectl. */
  readonly kubeconfigPath: string;
  readonly kind: 'envtest' | 'kubeconfig';
  stop(): Promise<void>;
}

/** Cached binary paths, building them first when TANDEM_K8S_BUILD=1. */
function binaries(): { etcd: string; apiserver: string } | { missing: string } {
  const build = process.env.TANDEM_K8S_BUILD === '1';
  const out: Record<string, string> = {};
  for (const name of ['etcd', 'kube-apiserver']) {
    // TANDEM_ETCD_BIN / TANDEM_KUBE_APISERVER_BIN name a binary directly (e.g. Debian's etcd).
    const given = process.env[`TANDEM_${name.toUpperCase().replace('-', '_')}_BIN`];
    if (given) {
      if (!existsSync(given)) return { missing: `${name}: ${given} does not exist` };
      out[name] = given;
      continue;
    }
    const r = spawnSync('bash', [SCRIPT, name], { encoding: 'utf8', env: { ...process.env, TANDEM_K8S_DRY_RUN: build ? '' : '1' }, timeout: 3_600_000 });
    const path = r.stdout.trim().split('\n').pop() ?? '';
    if (r.status === 0 && existsSync(path)) {
      out[name] = path;
      continue;
    }
    // Debian's etcd-server package (apt) serves as well as a Go-built etcd.
    const onPath = name === 'etcd' ? spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).stdout.trim() : '';
    if (onPath !== '') {
      out[name] = onPath;
      continue;
    }
    return { missing: `${name}: ${(r.stderr || r.stdout).trim().slice(-300)}` };
  }
  return { etcd: out.etcd!, apiserver: out['kube-apiserver']! };
}

/** Why the integration tests cannot run here, or undefined when they can. */
export function unavailableReason(): string | undefined {
  if (process.env.TANDEM_IT_KUBECONFIG) return undefined;
  const b = binaries();
  if ('missing' in b) {
    return `no kube-apiserver/etcd (${b.missing}); build them with operators/model-operator/scripts/build-k8s-bins.sh (or set TANDEM_K8S_BUILD=1), or point TANDEM_IT_KUBECONFIG at a cluster`;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function kubeConfigFor(server: string, user: string, token: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'it', server, skipTLSVerify: true }],
    users: [{ name: user, token }],
    contexts: [{ name: 'it', cluster: 'it', user }],
    currentContext: 'it',
  });
  return kc;
}

async function waitReady(kc: k8s.KubeConfig, procs: ChildProcess[], logs: () => string): Promise<void> {
  const api = kc.makeApiClient(k8s.CoreV1Api);
  const deadline = Date.now() + 120_000;
  for (;;) {
    for (const p of procs) if (p.exitCode !== null) throw new Error(`process exited early (${p.exitCode}):\n${logs()}`);
    try {
      await api.listNamespace();
      const ns = await api.readNamespace({ name: 'default' }).catch(() => undefined);
      if (ns !== undefined) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`kube-apiserver not ready in 120 s:\n${logs()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function startEnv(): Promise<TestEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-envtest-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  const external = process.env.TANDEM_IT_KUBECONFIG;
  if (external) {
    const admin = new k8s.KubeConfig();
    admin.loadFromFile(external);
    writeFileSync(kubeconfigPath, admin.exportConfig());
    return { admin, operator: undefined, operatorUser: undefined, kubeconfigPath, kind: 'kubeconfig', stop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const bins = binaries();
  if ('missing' in bins) throw new Error(bins.missing);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const adminToken = randomBytes(16).toString('hex');
  const operatorToken = randomBytes(16).toString('hex');
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,1,"system:masters"\n${operatorToken},tandem-operator-it,2\n`);
  let log = '';
  const capture = (p: ChildProcess, name: string) => {
    const add = (b: Buffer) => {
      log = (log + `[${name}] ${b.toString()}`).slice(-20_000);
    };
    p.stdout?.on('data', add);
    p.stderr?.on('data', add);
  };
  const etcd = spawn(bins.etcd, [
    '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--advertise-client-urls', `http://127.0.0.1:${etcdPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `default=http://127.0.0.1:${peerPort}`,
    '--unsafe-no-fsync',
  ]);
  capture(etcd, 'etcd');
  const apiserver = spawn(bins.apiserver, [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--secure-port=${apiPort}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--cert-dir=${join(dir, 'certs')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    '--service-cluster-ip-range=10.0.0.0/24',
    // No controller-manager creates the default ServiceAccount, so its admission plugin would
    // reject every pod.
    '--disable-admission-plugins=ServiceAccount',
  ]);
  capture(apiserver, 'kube-apiserver');
  const server = `https://127.0.0.1:${apiPort}`;
  const admin = kubeConfigFor(server, 'admin', adminToken);
  const stop = async () => {
    for (const p of [apiserver, etcd]) {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await new Promise((r) => p.once('exit', r));
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(admin, [etcd, apiserver], () => log);
  } catch (err) {
    await stop();
    throw err;
  }
  writeFileSync(kubeconfigPath, admin.exportConfig());
  return { admin, operator: kubeConfigFor(server, 'tandem-operator-it', operatorToken), operatorUser: 'tandem-operator-it', kubeconfigPath, kind: 'envtest', stop };
}

/**
 * Plays the scheduler + kubelet for pods labelled tandem.dev/deployment: binds ungated pods to a
 * node, reports them Running/Ready (unless `hold` says otherwise), and completes deletions.
 */
export class FakeKubelet {
  private timer: NodeJS.Timeout | undefined;
  private readonly core: k8s.CoreV1Api;
  /** Pods (by name) the fake kubelet leaves unscheduled. */
  readonly unschedulable = new Set<string>();
  errors: string[] = [];

  constructor(kc: k8s.KubeConfig, private readonly namespace: string) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
  }

  start(): void {
    const tick = async () => {
      try {
        await this.step();
      } catch (err) {
        this.errors.push(err instanceof Error ? err.message : String(err));
      }
      this.timer = setTimeout(() => void tick(), 200);
    };
    void tick();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** The first non-optional secretKeyRef of a pod whose secret or key does not exist, as the kubelet words it. */
  private async missingSecret(pod: k8s.V1Pod): Promise<{ container: string; message: string } | undefined> {
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref === undefined || ref.optional === true) continue;
        const secret = await this.core.readNamespacedSecret({ namespace: this.namespace, name: ref.name! }).catch(() => undefined);
        if (secret === undefined) return { container: c.name, message: `secret "${ref.name}" not found` };
        if (secret.data?.[ref.key] === undefined) return { container: c.name, message: `couldn't find key ${ref.key} in Secret ${this.namespace}/${ref.name}` };
      }
    }
    return undefined;
  }

  private async step(): Promise<void> {
    const pods = await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: 'tandem.dev/deployment' });
    for (const pod of pods.items) {
      const name = pod.metadata!.name!;
      if (pod.metadata?.deletionTimestamp !== undefined) {
        await this.core.deleteNamespacedPod({ namespace: this.namespace, name, gracePeriodSeconds: 0 }).catch(() => undefined);
        continue;
      }
      if ((pod.spec?.schedulingGates ?? []).length > 0 || this.unschedulable.has(name)) continue;
      if (!pod.spec?.nodeName) {
        await this.core.createNamespacedPodBinding({ namespace: this.namespace, name, body: { metadata: { name }, target: { apiVersion: 'v1', kind: 'Node', name: 'node-1' } } });
        continue;
      }
      if (pod.status?.phase === 'Pending' || pod.status?.phase === undefined) {
        const now = new Date();
        const blocked = await this.missingSecret(pod);
        if (blocked !== undefined) {
          // What a kubelet does: the pod stays Pending, the container waits with the reason.
          if (pod.status?.initContainerStatuses?.[0]?.state?.waiting?.message === blocked.message) continue;
          await this.writePodStatus(pod, 'Pending', now, {
            initContainerStatuses: [{ name: blocked.container, image: pod.spec.initContainers![0]!.image!, imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'CreateContainerConfigError', message: blocked.message } } }],
          });
          continue;
        }
        await this.writePodStatus(pod, 'Running', now, {
          containerStatuses: [{ name: 'shard', image: pod.spec.containers[0]!.image!, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } }],
        });
      }
    }
  }

  /** A kubelet's status write: scheduled, Ready only when Running, plus the container statuses. */
  private async writePodStatus(pod: k8s.V1Pod, phase: 'Pending' | 'Running', now: Date, containers: Partial<k8s.V1PodStatus>): Promise<void> {
    await this.core.replaceNamespacedPodStatus({
      namespace: this.namespace,
      name: pod.metadata!.name!,
      body: {
        ...pod,
        status: {
          phase,
          conditions: [
            { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
            { type: 'Ready', status: phase === 'Running' ? 'True' : 'False', lastTransitionTime: now },
          ],
          ...containers,
        },
      },
    });
  }
}
