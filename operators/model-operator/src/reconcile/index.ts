export * from './names.js';
export * from './pods.js';
export * from './groups.js';
export * from './children.js';
export * from './conditions.js';
export * from './plan.js';
