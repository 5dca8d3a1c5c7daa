// @tandem/router: the public gRPC + HTTP gateway — admission, endpoint picking, auth, rate limits,
// metrics — in front of tandem.engine.v1 replicas.
export { startRouter, type RunningRouter, type StartRouterExtras } from './router.js';
export { ROUTER_CONFIG, parseRouterOptions, type RouterOptions, type RouterOptionsInput } from './options.js';
export { AdmissionQueue, type QueueItem, type AdmissionQueueOptions } from './admission-queue.js';
export { pickReplica, defaultPicker, type PickerConfig, type PickRequest } from './picker.js';
export { Replica, type ReplicaInfo, type ReplicaStats } from './replica.js';
export { PrefixIndex, blockHashes } from './prefix-affinity.js';
export { ApiKeyStore, type ApiKey, type Principal } from './auth.js';
export { RateLimiter } from './rate-limit.js';
export { RouterMetrics } from './metrics.js';
export { dnsResolver, serviceDiscovery, type HostResolver } from './engine-discovery.js';
export { GrpcEngineConnection, type EngineConnection } from './engine-client.js';
export { jsonLogger, type Logger } from './log.js';
export { runRouterMain, USAGE as ROUTER_USAGE } from './run-main.js';
