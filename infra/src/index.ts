export * from './autoscaling.js';
export * from './operator-install.js';
export * from './constructs.js';
export { exampleApps } from './apps.js';
export { CHART_DIR, REPO_ROOT, generatedChartFiles } from './chart-files.js';
