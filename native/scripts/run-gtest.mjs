// Runs the C++ unit tests; writes a GoogleTest JSON report when TANDEM_TEST_RESULTS is set.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = ['--gtest_brief=1'];
if (process.env.TANDEM_TEST_RESULTS) args.push(`--gtest_output=json:${process.env.TANDEM_TEST_RESULTS}/gtest-native.json`);
const r = spawnSync(join(here, 'build', 'tandem_tests'), args, { stdio: 'inherit' });
if (r.error) throw r.error;
process.exit(r.status ?? 1);
