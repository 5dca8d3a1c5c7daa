// Installs what a fresh clone is missing, then builds the native engine. Run by `npm start` and
// `npm test` so that both work on a new machine with nothing installed by hand.
import { execSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, opts = {}) => execSync(cmd, { stdio: 'inherit', cwd: root, ...opts });

// System packages (Debian): headers and tools the native build needs.
const aptNeeds = [
  ['/usr/include/nlohmann/json.hpp', 'nlohmann-json3-dev'],
  ['/usr/include/gtest/gtest.h', 'libgtest-dev'],
  ['/usr/bin/cmake', 'cmake'],
  ['/usr/bin/ninja', 'ninja-build'],
  ['/usr/bin/g++', 'g++'],
];
const missing = aptNeeds.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg);
if (missing.length > 0) {
  const sudo = process.getuid && process.getuid() === 0 ? '' : 'sudo ';
  console.log(`[ensure] installing system packages: ${missing.join(' ')}`);
  run(`${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(' ')}`);
}

// npm dependencies: install when node_modules is absent or older than the lockfile.
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs) {
  console.log('[ensure] npm ci');
  run('npm ci --no-audit --no-fund');
}

// Python packages used by cross-checks against Hugging Face (tokenizers): installed into the
// user site when missing, so the checks run on a fresh machine too.
const pyReq = join(root, 'test', 'python', 'requirements.txt');
if (existsSync(pyReq)) {
  let have = true;
  try {
    execSync('python3 -c "import tokenizers"', { stdio: 'ignore' });
  } catch {
    have = false;
  }
  if (!have) {
    console.log('[ensure] pip install -r test/python/requirements.txt');
    run(`python3 -m pip install -q --disable-pip-version-check -r ${pyReq}`);
  }
}

// Native engine (incremental: CMake/Ninja rebuild only what changed).
console.log('[ensure] building native engine');
run('npm run build --silent -w @tandem/engine');
