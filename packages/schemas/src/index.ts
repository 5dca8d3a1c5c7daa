export * from './format-zod-error.js';
export * from './sampling.js';
export * from './engine-options.js';
export * from './model-config.js';
export * from './chat/index.js';
export * from './crd/index.js';
