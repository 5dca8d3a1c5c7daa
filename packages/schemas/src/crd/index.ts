export * from './model-deployment.js';
export * from './crd-schema.js';
export * from './model-deployment-crd.js';
export * from './operator-values.js';
export * from './shard-env.js';
