// Writes the generated chart files (see chart-files.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CHART_DIR, generatedChartFiles } from './chart-files.js';

for (const [rel, content] of Object.entries(generatedChartFiles())) {
  const path = join(CHART_DIR, rel);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  console.log(`wrote ${path}`);
}
