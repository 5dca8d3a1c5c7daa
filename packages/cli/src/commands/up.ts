// `tandem up [--model DIR] [--replicas R] [--tp N] [--http-port P] [--grpc-port P] [--engine-port P]
// [--threads N] [--api-keys-file FILE]`: the local stack. Starts one shard process per replica and
// the router process, waits until the router is ready, prints the endpoints (a JSON line on stdout,
// human lines on stderr) and tears everything down on Ctrl-C / SIGTERM. With --tp N each replica is
// N shard processes (ranks 0..N-1 meeting at a free loopback port); only rank 0 serves the engine
// API, so only its address goes to the router, and teardown kills every rank. With no --model it creates
// the default model (cohere2-small, random weights, cached under .tandem/) once.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { intFlag, parseFlags, validateFlags } from '../args.js';
import { logLine } from '../output.js';
import { REPO_ROOT, ensureCachedModel } from '../paths.js';
import { runChatClient } from './chat-client.js';

export const UP_USAGE = `usage: tandem up [--model DIR] [--replicas R] [--tp N] [--http-port P] [--grpc-port P] [--engine-port P]
                 [--threads N] [--api-keys-file FILE] [--host H]
  --model DIR        HF model folder (default: the random-weight cohere2-small, created once)
  --replicas R       replicas (default 1); engine ports P, P+1, … (default 50061; 0 = any free)
  --tp N             tensor-parallel ranks per replica (default 1): N shard processes each
  --http-port P      router HTTP port (default 8080); --grpc-port P router gRPC port (default 50051)
  --threads N        kernel threads per shard process (default: cores / (replicas × tp))
  --sample-chat MSG  once ready, stream one reply to MSG to the terminal (what \`npm start\` does)`;

const UpFlags = z.strictObject({
  help: z.boolean().optional(),
  model: z.string().min(1).optional(),
  replicas: intFlag(1, 64).optional(),
  tp: intFlag(1, 64).optional(),
  'http-port': intFlag(0, 65535).optional(),
  'grpc-port': intFlag(0, 65535).optional(),
  'engine-port': intFlag(0, 65535).optional(),
  threads: intFlag(1, 1024).optional(),
  'api-keys-file': z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  'sample-chat': z.string().min(1).optional(),
});

export interface LocalStackOptions {
  readonly modelDir: string;
  readonly replicas?: number;
  /** Tensor-parallel ranks per replica (default 1). */
  readonly tp?: number;
  readonly httpPort?: number;
  readonly grpcPort?: number;
  /** First engine port (0 = free ports). */
  readonly enginePort?: number;
  readonly threads?: number;
  readonly host?: string;
  readonly apiKeysFile?: string;
  /** Extra environment for every child (e.g. TANDEM_KV_MEMORY_BYTES, TANDEM_MAX_RUNNING). */
  readonly env?: Record<string, string>;
  /** Where child logs go (default: inherited stderr). */
  readonly childStderr?: 'inherit' | 'ignore';
  readonly readyTimeoutMs?: number;
}

export interface ShardProcess {
  /** Rank 0's engine address (the one the router uses). */
  readonly address: string;
  /** Rank 0's process. */
  readonly child: ChildProcess;
  /** Every rank's process, rank 0 first (just `child` without tensor parallelism). */
  readonly ranks: readonly ChildProcess[];
}

export interface LocalStack {
  readonly httpUrl: string;
  readonly grpcAddress: string;
  readonly shards: readonly ShardProcess[];
  readonly router: ChildProcess;
  /** SIGTERM everything, SIGKILL what has not exited after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

const SHARD_MAIN = join(REPO_ROOT, 'packages/shard/src/main.ts');
const ROUTER_MAIN = join(REPO_ROOT, 'packages/router/src/main.ts');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function spawnTs(script: string, args: string[], env: Record<string, string>, stderr: 'inherit' | 'ignore'): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', stderr],
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

async function killAll(children: readonly ChildProcess[], graceMs: number): Promise<void> {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  const timer = setTimeout(() => { for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); }, graceMs);
  await Promise.all(children.map(exited));
  clearTimeout(timer);
}

/** Starts shards + router as child processes and resolves when the router is ready. */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const replicas = o.replicas ?? 1;
  const host = o.host ?? '127.0.0.1';
  const stderr = o.childStderr ?? 'inherit';
  const tp = o.tp ?? 1;
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / (replicas * tp)));
  const ports: number[] = [];
  for (let i = 0; i < replicas; i++) ports.push(o.enginePort === undefined ? 50061 + i : o.enginePort === 0 ? await freePort() : o.enginePort + i);
  const children: ChildProcess[] = [];
  const shards: ShardProcess[] = [];
  for (const port of ports) {
    // One rendezvous port per replica; followers do not serve gRPC, so their engine port is moot (0).
    const group: Record<string, string> = { TANDEM_WORLD_SIZE: String(tp), ...(tp > 1 ? { TANDEM_LEADER_ADDR: `127.0.0.1:${await freePort()}` } : {}) };
    const ranks: ChildProcess[] = [];
    for (let rank = 0; rank < tp; rank++) {
      const child = spawnTs(SHARD_MAIN, [], {
        ...o.env, TANDEM_MODEL_DIR: o.modelDir, TANDEM_ENGINE_HOST: '127.0.0.1', TANDEM_ENGINE_PORT: String(rank === 0 ? port : 0),
        TANDEM_THREADS: String(threads), ...group, TANDEM_RANK: String(rank),
      }, stderr);
      child.stdout?.resume();
      children.push(child);
      ranks.push(child);
    }
    shards.push({ address: `127.0.0.1:${port}`, child: ranks[0]!, ranks });
  }
  const routerArgs = [
    '--engines', shards.map((s) => s.address).join(','), '--model', o.modelDir, '--host', host,
    '--http-port', String(o.httpPort ?? 8080), '--grpc-port', String(o.grpcPort ?? 50051),
    ...(o.apiKeysFile ? ['--api-keys-file', o.apiKeysFile] : []),
  ];
  const router = spawnTs(ROUTER_MAIN, routerArgs, { ...o.env }, stderr);
  children.push(router);
  const stop = (graceMs = 10_000) => killAll(children, graceMs);
  try {
    const endpoints = await new Promise<{ http: string; grpc: string }>((resolve, reject) => {
      const lines = createInterface({ input: router.stdout! });
      lines.on('line', (line) => {
        try {
          const msg = JSON.parse(line) as { event?: string; http?: string; grpc?: string };
          if (msg.event === 'listening' && msg.http && msg.grpc) resolve({ http: msg.http, grpc: msg.grpc });
        } catch { /* not ours */ }
      });
      router.once('exit', (code) => reject(new Error(`the router exited (code ${code}) before listening`)));
      for (const s of shards) {
        s.ranks.forEach((c, rank) => c.once('exit', (code) => reject(new Error(`shard ${s.address}${tp > 1 ? ` rank ${rank}` : ''} exited (code ${code}) while starting`))));
      }
    });
    const until = Date.now() + (o.readyTimeoutMs ?? 300_000);
    for (;;) {
      const ok = await fetch(`${endpoints.http}/readyz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > until) throw new Error(`the stack was not ready within ${o.readyTimeoutMs ?? 300_000} ms`);
      if (router.exitCode !== null) throw new Error('the router exited while waiting for readiness');
      await new Promise((r) => setTimeout(r, 100));
    }
    return { httpUrl: endpoints.http, grpcAddress: endpoints.grpc, shards, router, stop };
  } catch (e) {
    await stop(2000);
    throw e;
  }
}

export async function runUpCommand(argv: string[]): Promise<number> {
  const parsed = parseFlags(argv, {
    model: { type: 'string' }, replicas: { type: 'string' }, tp: { type: 'string' }, 'http-port': { type: 'string' },
    'grpc-port': { type: 'string' }, 'engine-port': { type: 'string' }, threads: { type: 'string' },
    'api-keys-file': { type: 'string' }, host: { type: 'string' }, 'sample-chat': { type: 'string' },
  }, UP_USAGE);
  if (parsed.values.help) { logLine(UP_USAGE); return 0; }
  const flags = validateFlags(UpFlags, parsed.values, UP_USAGE);
  const modelDir = flags.model ?? (await ensureCachedModel('cohere2-small'));
  if (!flags.model) logLine(`serving the default random-weight model ${modelDir} (its replies are nonsense; pass --model DIR for a real Command R7B / Command A folder)`);
  const replicas = flags.replicas ?? 1;
  const tp = flags.tp ?? 1;
  logLine(`starting ${replicas} shard(s)${tp > 1 ? ` of ${tp} tensor-parallel ranks each` : ''} and the router…`);
  const started = Date.now();
  const stack = await startLocalStack({
    modelDir, replicas, tp,
    ...(flags['http-port'] !== undefined ? { httpPort: flags['http-port'] } : {}),
    ...(flags['grpc-port'] !== undefined ? { grpcPort: flags['grpc-port'] } : {}),
    ...(flags['engine-port'] !== undefined ? { enginePort: flags['engine-port'] } : {}),
    ...(flags.threads !== undefined ? { threads: flags.threads } : {}),
    ...(flags['api-keys-file'] ? { apiKeysFile: flags['api-keys-file'] } : {}),
    ...(flags.host ? { host: flags.host } : {}),
  });
  process.stdout.write(`${JSON.stringify({
    event: 'ready', http: stack.httpUrl, grpc: stack.grpcAddress, router_pid: stack.router.pid,
    engines: stack.shards.map((s) => ({ address: s.address, pid: s.child.pid, rank_pids: s.ranks.map((c) => c.pid) })), model: modelDir,
  })}\n`);
  logLine(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s
  HTTP  ${stack.httpUrl}   POST /v2/chat  POST /v1/chat/completions  GET /v1/models  /healthz /readyz /metrics
  gRPC  ${stack.grpcAddress}   tandem.v1.Tandem (health + reflection)
  engines ${stack.shards.map((s) => s.address).join(', ')}
  try:  tandem chat --url ${stack.httpUrl} "Hello"      (Ctrl-C stops everything)`);
  if (flags['sample-chat']) {
    logLine(`sample chat: "${flags['sample-chat']}"`);
    await runChatClient(['--url', stack.httpUrl, '--max-tokens', '48', flags['sample-chat']]);
    logLine('the stack keeps serving; Ctrl-C stops everything');
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const down = (why: string, code: number) => {
      if (stopping) return;
      stopping = true;
      logLine(`${why}: stopping…`);
      void stack.stop().then(() => resolve(code));
    };
    process.once('SIGINT', () => down('SIGINT', 0));
    process.once('SIGTERM', () => down('SIGTERM', 0));
    stack.router.once('exit', (code) => down(`the router exited (code ${code})`, 1));
    for (const s of stack.shards) {
      s.ranks.forEach((c, rank) => c.once('exit', (code, signal) => {
        if (!stopping) logLine(`shard ${s.address}${s.ranks.length > 1 ? ` rank ${rank}` : ''} exited (${signal ?? `code ${code}`}); the router fails over to the others`);
      }));
    }
  });
}
