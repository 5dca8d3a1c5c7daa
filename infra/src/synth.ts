// `npm run synth -w @tandem/infra`: writes infra/dist/*.yaml (operator install, and an example
// autoscaled Command A deployment: tensor 2, autoscaling 1–4).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, YamlOutputType } from 'cdk8s';
import { exampleApps } from './apps.js';

const outdir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
mkdirSync(outdir, { recursive: true });
for (const [file, build] of Object.entries(exampleApps())) {
  const app = new App({ outdir, yamlOutputType: YamlOutputType.FILE_PER_APP });
  build(app);
  writeFileSync(join(outdir, file), app.synthYaml());
  console.log(`wrote ${join(outdir, file)}`);
}
