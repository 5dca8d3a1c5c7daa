// `helm template charts/tandem` (a real helm, built from the Go module proxy by
// operators/model-operator/scripts/build-k8s-bins.sh when missing) must equal the cdk8s install
// for default values, apart from the labels Helm adds.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { parseAllDocuments } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { CHART_DIR, REPO_ROOT } from './chart-files.js';
import { OperatorInstall, chartOf } from './constructs.js';

type Obj = Record<string, any>;
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance'];
// `go install` leaves helm's built-in Kubernetes version at v1.20 (the release build sets it via
// ldflags); the chart requires >= 1.30, so say which version to render for.
const KUBE_VERSION = ['--kube-version', '1.34.0'];
const BUILD = join(REPO_ROOT, 'operators', 'model-operator', 'scripts', 'build-k8s-bins.sh');

let helm: string | undefined;
let why = '';

beforeAll(() => {
  // Builds helm into ~/.cache/tandem/k8s on first use (minutes); later runs find it at once.
  const r = spawnSync('bash', [BUILD, 'helm'], { encoding: 'utf8', timeout: 1_500_000 });
  if (r.status === 0) helm = r.stdout.trim().split('\n').pop();
  else why = `helm unavailable (build-k8s-bins.sh helm exited ${r.status}): ${(r.stderr ?? '').slice(-500)}`;
}, 1_600_000);

function stripHelmLabels(o: Obj): Obj {
  const walk = (x: any): any => {
    if (Array.isArray(x)) return x.map(walk);
    if (x === null || typeof x !== 'object') return x;
    const out: Obj = {};
    for (const [k, v] of Object.entries(x)) {
      if (k === 'labels' && v !== null && typeof v === 'object') {
        out[k] = Object.fromEntries(Object.entries(v as Obj).filter(([lk]) => !HELM_LABELS.includes(lk)));
      } else out[k] = walk(v);
    }
    return out;
  };
  return walk(o);
}

const key = (o: Obj) => `${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

function helmTemplate(args: string[]): Obj[] {
  const out = execFileSync(helm!, ['template', 'tandem', CHART_DIR, '--namespace', 'tandem-system', '--include-crds', ...KUBE_VERSION, ...args], { encoding: 'utf8' });
  return parseAllDocuments(out).map((d) => d.toJS() as Obj).filter((o) => o !== null);
}

describe('helm chart', () => {
  it('renders the same objects as the cdk8s install for default values', (ctx) => {
    if (helm === undefined) return ctx.skip(why);
    const fromHelm = helmTemplate([]).map(stripHelmLabels).sort((a, b) => key(a).localeCompare(key(b)));
    const fromCdk8s = (Testing.synth(chartOf(Testing.app(), 't', (c) => new OperatorInstall(c, 'i', { createNamespace: false }))) as Obj[]).sort((a, b) =>
      key(a).localeCompare(key(b)),
    );
    expect(fromHelm.map(key)).toEqual(fromCdk8s.map(key));
    for (let i = 0; i < fromHelm.length; i++) expect(fromHelm[i], key(fromHelm[i]!)).toEqual(fromCdk8s[i]);
  });

  it('rejects values that break values.schema.json, naming the field', (ctx) => {
    if (helm === undefined) return ctx.skip(why);
    const r = spawnSync(helm, ['template', 'tandem', CHART_DIR, ...KUBE_VERSION, '--set', 'replicas=0', '--set', 'logLevel=loud'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/replicas/);
    expect(r.stderr).toMatch(/logLevel/);
  });
});
