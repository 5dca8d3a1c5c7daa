// `tandem up [--model DIR] [--replicas R] [--tp N] [--http-port P] [--grpc-port P] [--engine-port P]
// [--threads N] [--api-keys-file FILE]`: the local stack. Starts the shard processes of every replica and
// the router process, waits until the router is ready, prints the endpoints (a JSON line on stdout,
// human lines on stderr) and tears everything down on Ctrl-C / SIGTERM. Each replica is a group of
// --tp N shard processes (default 2, as DESIGN.md asks; ranks 0..N-1 meeting at a free loopback
// port); only rank 0 serves the engine API, so only its address goes to the router, and teardown
// kills every rank. A group that fails (any rank exits) is respawned whole, like the operator does in
// a cluster. With no --model it creates the default model (cohere2-small, random weights, cached
// under .tandem/) once.
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
  --tp N             tensor-parallel ranks per replica (default 2): N shard processes each;
                     a replica whose rank exits is restarted whole (backoff 1 s doubling to 30 s)
  --http-port P      router HTTP port (default 8080); --grpc-port P router gRPC port (default 50051)
  --threads N        kernel threads per shard process (default: cores / (replicas × tp), at least 1)
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
  /** Tensor-parallel ranks per replica (default 1; `tandem up` passes its own default, 2). */
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
  /**
   * Self-healing (default true): once the stack is ready, a group whose rank exits unexpectedly is
   * respawned whole on the same engine port, as the operator recreates a failed group.
   */
  readonly restart?: boolean;
  /** Where group failures and restarts are reported, one line each (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface ShardProcess {
  /** Rank 0's engine address (the one the router uses); the same across restarts. */
  readonly address: string;
  /** Rank 0's current process (a new one after each restart). */
  readonly child: ChildProcess;
  /** Every rank's current process, rank 0 first (just `child` without tensor parallelism). */
  readonly ranks: readonly ChildProcess[];
  /** How many times the group has been respawned. */
  readonly restarts: number;
  /** Calls `listener` with the new ranks after each respawn; returns an unsubscribe function. */
  onRestart(listener: (ranks: readonly ChildProcess[]) => void): () => void;
}

export interface LocalStack {
  readonly httpUrl: string;
  readonly grpcAddress: string;
  readonly shards: readonly ShardProcess[];
  readonly router: ChildProcess;
  /** Stops restarts, SIGTERMs everything, SIGKILLs what has not exited after graceMs. */
  stop(graceMs?: number): Promise<void>;
}

/** `tandem up`'s tensor parallelism: Command A is served on two GPUs (DESIGN.md §5). */
export const DEFAULT_TP = 2;

const SHARD_MAIN = join(REPO_ROOT, 'packages/shard/src/main.ts');
const ROUTER_MAIN = join(REPO_ROOT, 'packages/router/src/main.ts');
/** How long the other ranks of a failed group get to exit by themselves (the engine's failure semantics) before SIGKILL. */
const GROUP_EXIT_GRACE_MS = 5000;

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

const alive = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

function exited(child: ChildProcess): Promise<void> {
  return alive(child) ? new Promise((r) => child.once('exit', () => r())) : Promise.resolve();
}

async function killAll(children: readonly ChildProcess[], graceMs: number): Promise<void> {
  for (const c of children) if (alive(c)) c.kill('SIGTERM');
  const timer = setTimeout(() => { for (const c of children) if (alive(c)) c.kill('SIGKILL'); }, graceMs);
  await Promise.all(children.map(exited));
  clearTimeout(timer);
}

/** Restart delays of one group: 1 s doubling to 30 s, back to 1 s once the group stayed up a minute. */
export class RestartBackoff {
  private nextMs: number;

  constructor(readonly initialMs = 1000, readonly maxMs = 30_000, readonly resetAfterMs = 60_000) {
    this.nextMs = initialMs;
  }

  /** The delay before respawning a group that came up at `upSince` and failed at `failedAt` (ms). */
  next(upSince: number, failedAt: number): number {
    if (failedAt - upSince >= this.resetAfterMs) this.nextMs = this.initialMs;
    const delay = this.nextMs;
    this.nextMs = Math.min(this.nextMs * 2, this.maxMs);
    return delay;
  }
}

interface GroupSpec {
  readonly index: number;
  readonly port: number;
  readonly tp: number;
  /** Environment every rank shares (model, threads, extra env); rank, world size and leader are added per spawn. */
  readonly env: Record<string, string>;
  readonly stderr: 'inherit' | 'ignore';
  readonly restart: boolean;
  readonly log: (line: string) => void;
}

/**
 * One replica's shard processes (N ranks with tensor parallelism) and their supervisor. Once
 * `supervise()` is called, an unexpected exit of any rank takes the group down (the others should
 * exit by themselves; SIGKILL after GROUP_EXIT_GRACE_MS) and respawns it whole after a backoff:
 * same engine port (the router keeps its address list and marks the replica up when it serves
 * again), fresh rendezvous port (the old one may still be in TIME_WAIT or held by a dying rank).
 */
class ShardGroup implements ShardProcess {
  readonly address: string;
  private procs: ChildProcess[] = [];
  private restartCount = 0;
  private upSince = 0;
  private supervising = false;
  private stopped = false;
  private recovering: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly backoff = new RestartBackoff();
  private readonly listeners = new Set<(ranks: readonly ChildProcess[]) => void>();

  constructor(private readonly spec: GroupSpec) {
    this.address = `127.0.0.1:${spec.port}`;
  }

  get child(): ChildProcess { return this.procs[0]!; }
  get ranks(): readonly ChildProcess[] { return this.procs; }
  get restarts(): number { return this.restartCount; }

  onRestart(listener: (ranks: readonly ChildProcess[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private get name(): string {
    return `replica ${this.spec.index} (${this.address})`;
  }

  private rankName(rank: number): string {
    return this.spec.tp > 1 ? ` rank ${rank}` : '';
  }

  async spawn(): Promise<void> {
    const { tp, port } = this.spec;
    // Followers do not serve gRPC, so their engine port is moot (0).
    const group: Record<string, string> = { TANDEM_WORLD_SIZE: String(tp), ...(tp > 1 ? { TANDEM_LEADER_ADDR: `127.0.0.1:${await freePort()}` } : {}) };
    if (this.stopped) return;
    const procs: ChildProcess[] = [];
    for (let rank = 0; rank < tp; rank++) {
      const child = spawnTs(SHARD_MAIN, [], {
        ...this.spec.env, TANDEM_ENGINE_HOST: '127.0.0.1', TANDEM_ENGINE_PORT: String(rank === 0 ? port : 0), ...group, TANDEM_RANK: String(rank),
      }, this.spec.stderr);
      child.stdout?.resume();
      child.once('exit', (code, signal) => this.exited(child, rank, code, signal));
      procs.push(child);
    }
    this.procs = procs;
    this.upSince = Date.now();
  }

  /** From now on an unexpected exit is handled (before this, startLocalStack's startup check is). */
  supervise(): void {
    this.supervising = true;
    const dead = this.procs.findIndex((c) => !alive(c));
    if (dead >= 0) this.exited(this.procs[dead]!, dead, this.procs[dead]!.exitCode, this.procs[dead]!.signalCode);
  }

  private exited(child: ChildProcess, rank: number, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopped || !this.supervising || this.recovering || !this.procs.includes(child)) return;
    const why = signal ?? `code ${code}`;
    if (!this.spec.restart) {
      this.spec.log(`shard ${this.name}${this.rankName(rank)} exited (${why}); the router fails over to the others`);
      return;
    }
    this.spec.log(`shard ${this.name}${this.rankName(rank)} exited (${why}); restarting the group`);
    this.recovering = this.recover(Date.now()).finally(() => (this.recovering = undefined));
  }

  private async recover(failedAt: number): Promise<void> {
    const old = this.procs;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(old.map(exited)).then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), GROUP_EXIT_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (timedOut && !this.stopped) {
      const left = old.flatMap((c, rank) => (alive(c) ? [rank] : []));
      this.spec.log(`shard ${this.name}: rank(s) ${left.join(', ')} still running ${GROUP_EXIT_GRACE_MS / 1000} s after the group failed; SIGKILL`);
      for (const rank of left) old[rank]!.kill('SIGKILL');
    }
    await Promise.all(old.map(exited));
    for (;;) {
      if (this.stopped) return;
      const delay = this.backoff.next(this.upSince, failedAt);
      this.spec.log(`shard ${this.name}: restart #${this.restartCount + 1} in ${delay / 1000} s`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.wake = () => { clearTimeout(t); r(); };
      });
      this.wake = undefined;
      if (this.stopped) return;
      try {
        await this.spawn();
        break;
      } catch (e) {
        this.spec.log(`shard ${this.name}: respawning failed (${(e as Error).message}); trying again`);
        failedAt = Date.now();
      }
    }
    if (this.stopped) return;
    this.restartCount++;
    this.spec.log(`shard ${this.name}: group respawned (pids ${this.procs.map((c) => c.pid).join(', ')}); the router takes it back once it serves`);
    // No rank of the new group can have exited yet ('exit' is a later event), and `recovering` is
    // cleared before it can arrive, so its failures start a fresh recovery.
    for (const l of this.listeners) l(this.procs);
  }

  /** No more restarts; returns the processes to stop (a recovery in progress ends without spawning). */
  stop(): { procs: readonly ChildProcess[]; recovering: Promise<void> | undefined } {
    this.stopped = true;
    this.wake?.();
    return { procs: this.procs, recovering: this.recovering };
  }
}

/** Starts shards + router as child processes and resolves when the router is ready. */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const replicas = o.replicas ?? 1;
  const host = o.host ?? '127.0.0.1';
  const stderr = o.childStderr ?? 'inherit';
  const tp = o.tp ?? 1;
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / (replicas * tp)));
  const log = o.log ?? logLine;
  const ports: number[] = [];
  for (let i = 0; i < replicas; i++) ports.push(o.enginePort === undefined ? 50061 + i : o.enginePort === 0 ? await freePort() : o.enginePort + i);
  const env = { ...o.env, TANDEM_MODEL_DIR: o.modelDir, TANDEM_THREADS: String(threads) };
  const groups = ports.map((port, index) => new ShardGroup({ index, port, tp, env, stderr, restart: o.restart ?? true, log }));
  for (const g of groups) await g.spawn();
  const routerArgs = [
    '--engines', groups.map((s) => s.address).join(','), '--model', o.modelDir, '--host', host,
    '--http-port', String(o.httpPort ?? 8080), '--grpc-port', String(o.grpcPort ?? 50051),
    ...(o.apiKeysFile ? ['--api-keys-file', o.apiKeysFile] : []),
  ];
  const router = spawnTs(ROUTER_MAIN, routerArgs, { ...o.env }, stderr);
  let stopping: Promise<void> | undefined;
  const stop = (graceMs = 10_000) => {
    stopping ??= (async () => {
      const stopped = groups.map((g) => g.stop());
      await killAll([...stopped.flatMap((s) => s.procs), router], graceMs);
      await Promise.all(stopped.map((s) => s.recovering));
    })();
    return stopping;
  };
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
      for (const s of groups) {
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
    for (const g of groups) g.supervise();
    return { httpUrl: endpoints.http, grpcAddress: endpoints.grpc, shards: groups, router, stop };
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
  const tp = flags.tp ?? DEFAULT_TP;
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
    // Shard groups heal themselves (startLocalStack logs each failure and restart); the router does not.
    stack.router.once('exit', (code) => down(`the router exited (code ${code})`, 1));
  });
}
