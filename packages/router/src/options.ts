// The router's configuration: one schema (kit's field/env), each field with its environment variable,
// default and description. startRouter takes overrides from code (flags, tests) that win over env.
import { basename } from 'node:path';
import { z } from 'zod';
import { env, field, loadConfig, TandemError, type ConfigOf, type ConfigOverrides } from '@tandem/kit';

const hostPort = z.string().regex(/^[^\s:]+:\d+$/, 'must be host:port');

export const ROUTER_CONFIG = {
  engines: field('TANDEM_ENGINES', env.list().pipe(z.array(hostPort).min(1, 'at least one engine address (host:port)')).optional(), 'engine addresses, rank 0 of each replica (comma-separated host:port; local mode); exclusive with TANDEM_ENGINE_SERVICE'),
  engineService: field('TANDEM_ENGINE_SERVICE', hostPort.optional(), 'DNS name:port whose addresses are the replicas (a headless Service in a cluster), re-resolved every pollIntervalMs; exclusive with TANDEM_ENGINES'),
  modelDir: field('TANDEM_MODEL_DIR', env.string(), 'model folder with tokenizer.json / tokenizer_config.json (the router renders and tokenizes)'),
  modelName: field('TANDEM_MODEL_NAME', env.string().optional(), 'model id /v1/models lists; default the folder name'),
  host: field('TANDEM_ROUTER_HOST', env.string().default('0.0.0.0'), 'address the HTTP and gRPC servers bind'),
  httpPort: field('TANDEM_ROUTER_HTTP_PORT', env.int({ min: 0, max: 65535 }).default(8080), 'HTTP port (0 = any free port)'),
  grpcPort: field('TANDEM_ROUTER_GRPC_PORT', env.int({ min: 0, max: 65535 }).default(50051), 'gRPC port (0 = any free port)'),
  apiKeysFile: field('TANDEM_API_KEYS_FILE', env.string().optional(), 'JSON file: [{id, key, tenant?, requestsPerMinute?, tokensPerMinute?, weight?}]; none = no auth'),
  apiKeysJson: field('TANDEM_API_KEYS', env.string().optional(), 'the same key list as a JSON string'),
  requestTimeoutMs: field('TANDEM_REQUEST_TIMEOUT_MS', env.int({ min: 1 }).default(600_000), 'deadline of a request that sets none (x-tandem-timeout-ms or a gRPC deadline)'),
  maxQueued: field('TANDEM_MAX_QUEUED', env.int({ min: 0 }).default(1024), 'requests waiting for a replica before 429 / RESOURCE_EXHAUSTED'),
  maxQueuedPerTenant: field('TANDEM_MAX_QUEUED_PER_TENANT', env.int({ min: 1 }).optional(), 'waiting requests per tenant (default: maxQueued)'),
  maxQueueWaitMs: field('TANDEM_MAX_QUEUE_WAIT_MS', env.int({ min: 1 }).default(60_000), 'longest wait for a replica before 429'),
  pollIntervalMs: field('TANDEM_POLL_INTERVAL_MS', env.int({ min: 10 }).default(500), 'how often each engine\'s Stats is polled (and TANDEM_ENGINE_SERVICE re-resolved)'),
  expectedOutputTokens: field('TANDEM_EXPECTED_OUTPUT_TOKENS', env.int({ min: 1 }).default(512), 'output tokens a request without max_tokens reserves in a replica\'s budget'),
  maxRetries: field('TANDEM_MAX_RETRIES', env.int({ min: 0 }).default(2), 'other replicas tried when one fails before the first token'),
  logLevel: field('TANDEM_LOG_LEVEL', z.enum(['debug', 'info', 'warn', 'error']).default('info'), 'log level'),
};

export type RouterOptionsInput = ConfigOverrides<typeof ROUTER_CONFIG>;
export type RouterOptions = Omit<ConfigOf<typeof ROUTER_CONFIG>, 'modelName'> & { modelName: string };

/** Overrides (code / flags) over `environment`; throws one error naming every bad field. */
export function parseRouterOptions(input: RouterOptionsInput, environment: Record<string, string | undefined> = {}): RouterOptions {
  // Where the replicas come from: exactly one of the two sources (checked on the raw values so the
  // error lists this together with every other bad field).
  const given = (key: 'engines' | 'engineService') => input[key] !== undefined || (environment[ROUTER_CONFIG[key].env] ?? '') !== '';
  const sourceIssue = given('engines') === given('engineService')
    ? [`TANDEM_ENGINES / TANDEM_ENGINE_SERVICE: ${given('engines') ? 'set only one of' : 'one is required:'} engines (static host:port list) or engineService (DNS name:port)`]
    : [];
  let c: ConfigOf<typeof ROUTER_CONFIG>;
  try {
    c = loadConfig(ROUTER_CONFIG, { env: environment, overrides: input });
  } catch (e) {
    if (e instanceof TandemError && sourceIssue.length > 0) throw TandemError.invalidArgument('configuration', [...e.issues, ...sourceIssue]);
    throw e;
  }
  if (sourceIssue.length > 0) throw TandemError.invalidArgument('configuration', sourceIssue);
  return { ...c, modelName: c.modelName ?? basename(c.modelDir.replace(/\/+$/, '')) };
}
