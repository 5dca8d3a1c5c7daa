// The apps `synth` writes, one file each. Tests synthesize the same apps in memory.
import type { App } from 'cdk8s';
import { AutoscaledModelDeployment, OperatorInstall, chartOf } from './constructs.js';

export function exampleApps(): Record<string, (app: App) => void> {
  return {
    'operator-install.yaml': (app) => chartOf(app, 'operator', (c) => new OperatorInstall(c, 'install')),
    'command-a-autoscaled.yaml': (app) =>
      chartOf(app, 'command-a', (c) =>
        new AutoscaledModelDeployment(c, 'command-a', {
          name: 'command-a',
          namespace: 'models',
          spec: {
            model: { name: 'command-a', source: { pvc: { claimName: 'command-a-weights' } } },
            parallelism: { tensor: 2 },
            replicas: 1,
            autoscaling: { minReplicas: 1, maxReplicas: 4 },
            scheduling: { topologyKey: 'kubernetes.io/hostname' },
          },
        }),
      ),
  };
}
