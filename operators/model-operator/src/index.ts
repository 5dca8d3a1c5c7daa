export * from './reconcile/index.js';
export { ModelDeploymentController, errorText, type ControllerOptions } from './controller/controller.js';
export { KubeClient } from './controller/kube.js';
export { LeaderElector, type LeaderElectionOptions } from './controller/leader.js';
export { WorkQueue } from './controller/work-queue.js';
export { RenderError, renderObjects, renderYaml, type RenderOptions } from './render.js';
export { runOperator, OPERATOR_CONFIG } from './run.js';
export { validateObject } from './validate.js';
