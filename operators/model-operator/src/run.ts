// `tandem operator run`: the operator process. Config from the environment (kit), in-cluster
// credentials or KUBECONFIG, Lease leader election, graceful stop on SIGTERM.
import { hostname } from 'node:os';
import * as k8s from '@kubernetes/client-node';
import { createLogger, env, field, loadConfig } from '@tandem/kit';
import { z } from 'zod';
import { ModelDeploymentController } from './controller/controller.js';
import { LeaderElector } from './controller/leader.js';

export const OPERATOR_CONFIG = {
  namespace: field('TANDEM_OPERATOR_NAMESPACE', env.string().default('tandem-system'), 'Namespace of the leader-election Lease.'),
  identity: field('TANDEM_OPERATOR_IDENTITY', env.string().default(hostname()), 'This replica\'s Lease identity (the pod name).'),
  leaderElection: field('TANDEM_OPERATOR_LEADER_ELECTION', env.bool().default(true), 'Elect a leader through a Lease.'),
  logLevel: field('TANDEM_LOG_LEVEL', z.enum(['debug', 'info', 'warn', 'error']).default('info'), 'Log level.'),
};

export async function runOperator(overrides: { kubeConfig?: k8s.KubeConfig } = {}): Promise<number> {
  const config = loadConfig(OPERATOR_CONFIG);
  const logger = createLogger({ component: 'operator', level: config.logLevel });
  const kc = overrides.kubeConfig ?? new k8s.KubeConfig();
  if (overrides.kubeConfig === undefined) kc.loadFromDefault();
  const controller = new ModelDeploymentController({ kubeConfig: kc, logger });
  const elector = config.leaderElection
    ? new LeaderElector({ kubeConfig: kc, namespace: config.namespace, name: 'tandem-operator', identity: config.identity, logger })
    : undefined;

  return await new Promise<number>((resolve) => {
    let done = false;
    const stop = (code: number) => {
      if (done) return;
      done = true;
      void (async () => {
        await controller.stop();
        await elector?.release().catch((err: unknown) => logger.error('lease release failed', { error: String(err) }));
        resolve(code);
      })();
    };
    process.once('SIGTERM', () => stop(0));
    process.once('SIGINT', () => stop(0));
    void (async () => {
      try {
        // Losing the Lease ends the process (non-zero) so the pod restarts as a clean standby.
        if (elector !== undefined) await elector.run(() => stop(1));
        await controller.start();
        logger.info('operator started', { leaderElection: config.leaderElection });
      } catch (err) {
        logger.error('operator failed to start', { error: err instanceof Error ? err.message : String(err) });
        stop(1);
      }
    })();
  });
}
