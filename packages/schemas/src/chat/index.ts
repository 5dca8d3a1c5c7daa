export * from './request.js';
export * from './response.js';
export * from './validate.js';
export { checkJsonSchema } from './json-schema-check.js';
