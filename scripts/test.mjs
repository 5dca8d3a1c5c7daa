// `npm test`: every project's typecheck and test targets through nx, then one closing summary
// line aggregated from the per-suite JSON reports (vitest and GoogleTest) in .tandem/test-results.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const results = join(root, '.tandem', 'test-results');
rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

// Real kube-apiserver, etcd and helm for the operator's integration tests and the chart test:
// built from the Go module proxy once and cached outside the repo (~/.cache/tandem/k8s); a no-op
// when cached. A cold build takes about 30 minutes on 2 cores.
const k8sBins = spawnSync('bash', [join(root, 'operators', 'model-operator', 'scripts', 'build-k8s-bins.sh'), 'all'], {
  cwd: root, stdio: ['ignore', 'ignore', 'inherit'],
});
if (k8sBins.status !== 0) console.log('[test] building the Kubernetes test binaries failed: their tests will say why they skip');

const nx = spawnSync('npx', ['nx', 'run-many', '-t', 'typecheck', 'test', '--parallel=1', '--outputStyle=stream'], {
  cwd: root, stdio: 'inherit', env: { ...process.env, NX_NO_CLOUD: 'true', NX_DAEMON: 'false', TANDEM_TEST_RESULTS: results },
});

let passed = 0, failed = 0, skipped = 0;
for (const file of readdirSync(results).filter((f) => f.endsWith('.json'))) {
  const report = JSON.parse(readFileSync(join(results, file), 'utf8'));
  if ('numPassedTests' in report) {
    passed += report.numPassedTests; failed += report.numFailedTests;
    skipped += report.numPendingTests + (report.numTodoTests ?? 0);
  } else if ('tests' in report && 'failures' in report) {
    // GoogleTest JSON: totals, with disabled/skipped counted from the per-test results
    let skips = 0;
    for (const suite of report.testsuites ?? []) for (const t of suite.testsuite ?? []) if (t.result === 'SKIPPED') skips++;
    failed += report.failures; skipped += skips + (report.disabled ?? 0);
    passed += report.tests - report.failures - skips - (report.disabled ?? 0);
  }
}
const ok = nx.status === 0 && failed === 0;
console.log(`\nTandem: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (nx.status !== 0 && failed === 0) console.log('(a build or typecheck target failed: see above)');
process.exit(ok ? 0 : 1);
