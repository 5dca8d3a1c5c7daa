// Runs the C++ unit tests (one GoogleTest binary per layer); writes JSON reports when
// TANDEM_TEST_RESULTS is set so scripts/test.mjs can sum them up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const build = join(dirname(fileURLToPath(import.meta.url)), '..', 'build');
let failed = false;
for (const layer of ['ops', 'model', 'runtime']) {
  const bin = join(build, `${layer}_tests`);
  if (!existsSync(bin)) continue;
  const args = ['--gtest_brief=1'];
  if (process.env.TANDEM_TEST_RESULTS) args.push(`--gtest_output=json:${process.env.TANDEM_TEST_RESULTS}/gtest-${layer}.json`);
  const r = spawnSync(bin, args, { stdio: 'inherit' });
  if (r.error) throw r.error;
  if (r.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
