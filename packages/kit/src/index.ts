// @tandem/kit: service plumbing shared by the router, shard and operator processes.
export { TandemError, GrpcCode, httpStatus, ISSUES_METADATA_KEY, RETRY_AFTER_METADATA_KEY, type GrpcCodeName, type TandemErrorDetails, type TandemErrorOptions } from './errors.js';
export { Logger, createLogger, type LogLevel, type LogFields, type LoggerOptions } from './logger.js';
export { loadConfig, describeConfig, field, env, type ConfigField, type ConfigFields, type ConfigOf, type ConfigOverrides, type LoadConfigOptions } from './config.js';
export { HealthReporter, type ServingStatus } from './health.js';
export { addReflection } from './reflection.js';
export { installShutdown, type ShutdownOptions } from './shutdown.js';
export { injectTraceContext, extractTraceContext, traceMetadataFromHeaders, startServerSpan, startClientSpan, endSpan, type TraceContext, type Span } from './trace.js';
