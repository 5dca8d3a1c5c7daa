// Tensor-parallel groups on one machine for `tandem logits/generate/bench tp --tp N`: this process is
// rank 0 (scheduler, sampling, output) and spawns ranks 1..N-1 as copies of the same command with
// TANDEM_RANK / TANDEM_WORLD_SIZE / TANDEM_LEADER_ADDR set (DESIGN.md §4); a copy that finds
// TANDEM_RANK >= 1 runs the engine's follower loop instead of the command. TANDEM_TP_TRANSPORT
// (auto | tcp | shm, default auto) picks the collectives' transport for every rank.
//
// Failure: the engine turns a dead or stalled rank into an error on every rank within its
// collective timeout; on top of that rank 0 kills followers that outlive it by more than a grace
// period, so nothing is left behind whatever happened.
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import type { EngineOptions, TpTransport } from '@tandem/engine';
import { loadEngineModule } from './engine.js';
import { logLine } from './output.js';

/** Environment a follower copy is started with (and that marks a process as a follower). */
export interface RankEnv { rank: number; worldSize: number; leaderAddr: string }

/** The rank identity from TANDEM_RANK / TANDEM_WORLD_SIZE / TANDEM_LEADER_ADDR, or undefined when unset. */
export function rankFromEnv(env: NodeJS.ProcessEnv = process.env): RankEnv | undefined {
  if (env.TANDEM_RANK === undefined || env.TANDEM_RANK === '') return undefined;
  const int = (name: string, v: string | undefined): number => {
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`${name}: must be a non-negative integer, got ${JSON.stringify(v ?? null)}`);
    return Number(v);
  };
  const rank = int('TANDEM_RANK', env.TANDEM_RANK);
  const worldSize = int('TANDEM_WORLD_SIZE', env.TANDEM_WORLD_SIZE);
  if (rank >= worldSize) throw new Error(`TANDEM_RANK: ${rank} is not below TANDEM_WORLD_SIZE ${worldSize}`);
  const leaderAddr = env.TANDEM_LEADER_ADDR ?? '';
  if (!/^[^:\s]+:\d+$/.test(leaderAddr)) throw new Error(`TANDEM_LEADER_ADDR: must be host:port, got ${JSON.stringify(leaderAddr)}`);
  return { rank, worldSize, leaderAddr };
}

const TRANSPORTS: readonly TpTransport[] = ['auto', 'tcp', 'shm'];

/** TANDEM_TP_TRANSPORT, checked; undefined when unset (the engine's default, auto). */
export function tpTransportFromEnv(env: NodeJS.ProcessEnv = process.env): TpTransport | undefined {
  const v = env.TANDEM_TP_TRANSPORT;
  if (v === undefined || v === '') return undefined;
  if (!(TRANSPORTS as readonly string[]).includes(v)) throw new Error(`TANDEM_TP_TRANSPORT: must be one of ${TRANSPORTS.join(', ')}, got ${JSON.stringify(v)}`);
  return v as TpTransport;
}

/**
 * When this process is a follower (TANDEM_RANK >= 1), runs that rank until rank 0 closes the group
 * and returns the exit code (0 clean, 1 group failure); undefined for rank 0 / no group.
 */
export async function runFollowerIfRank(modelDir: string, threads: number | undefined): Promise<number | undefined> {
  const me = rankFromEnv();
  if (!me || me.rank === 0) return undefined;
  const { runFollower } = await loadEngineModule();
  try {
    const tpTransport = tpTransportFromEnv();
    await runFollower({ modelDir, threads, rank: me.rank, worldSize: me.worldSize, leaderAddr: me.leaderAddr, ...(tpTransport ? { tpTransport } : {}) });
    return 0;
  } catch (e) {
    logLine(`tandem rank ${me.rank}: ${(e as Error).message}`);
    return 1;
  }
}

/**
 * Kernel threads per rank: the --threads flag, else the cores shared out over the local group
 * (N ranks each taking every core would oversubscribe the machine N times). undefined = engine default.
 */
export function threadsPerRank(threads: number | undefined, tp: number): number | undefined {
  if (threads !== undefined) return threads;
  const world = rankFromEnv()?.worldSize ?? tp;
  return world > 1 ? Math.max(1, Math.floor(availableParallelism() / world)) : undefined;
}

/** A free TCP port on the loopback interface (the kernel's pick; released before use). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface LocalGroup {
  /** Extra engine options that make the in-process engine rank 0 of the group. */
  engineOptions: Pick<EngineOptions, 'rank' | 'worldSize' | 'leaderAddr' | 'tpTransport'>;
  /** Waits for the followers (after the engine closed) and kills any that linger; returns true when all exited 0. */
  close(graceMs?: number): Promise<boolean>;
  pids: number[];
}

/**
 * Spawns ranks 1..tp-1 as copies of this command (same argv), or does nothing for tp <= 1.
 * `argv` defaults to this process's; the copies inherit stderr so their errors are visible.
 * `transport` defaults to TANDEM_TP_TRANSPORT.
 */
export async function startLocalGroup(tp: number, argv: string[] = process.argv.slice(1), transport = tpTransportFromEnv()): Promise<LocalGroup | undefined> {
  if (tp <= 1) return undefined;
  const leaderAddr = `127.0.0.1:${await freePort()}`;
  const children: ChildProcess[] = [];
  const exits: Promise<number | null>[] = [];
  for (let rank = 1; rank < tp; rank++) {
    const child = spawn(process.execPath, [...process.execArgv, ...argv], {
      env: { ...process.env, TANDEM_RANK: String(rank), TANDEM_WORLD_SIZE: String(tp), TANDEM_LEADER_ADDR: leaderAddr, ...(transport ? { TANDEM_TP_TRANSPORT: transport } : {}) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(child);
    exits.push(new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve(signal ? null : code));
      child.once('error', () => resolve(null));
    }));
    logLine(`tp: started rank ${rank} of ${tp} (pid ${child.pid ?? '?'}) → ${leaderAddr}`);
  }
  // Rank 0 killed by a signal it can handle: take the followers with it.
  const onExit = () => { for (const c of children) c.kill('SIGKILL'); };
  process.once('exit', onExit);
  return {
    engineOptions: { rank: 0, worldSize: tp, leaderAddr, ...(transport ? { tpTransport: transport } : {}) },
    pids: children.map((c) => c.pid ?? -1),
    async close(graceMs = 3000) {
      const timer = setTimeout(() => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); }, graceMs);
      const codes = await Promise.all(exits);
      clearTimeout(timer);
      process.off('exit', onExit);
      return codes.every((c) => c === 0);
    },
  };
}

/**
 * Runs `fn` as rank 0 of a local group of `tp` ranks (plain, for tp <= 1) with the engine options
 * that join it. Followers are reaped afterwards: given a grace period when `fn` succeeded, killed
 * almost at once when it threw or returned a non-zero exit code (a stalled rank never exits, and
 * one that never joined would wait out the rendezvous timeout).
 */
export async function withLocalGroup<T>(tp: number, fn: (tpOptions: LocalGroup['engineOptions'] | Record<string, never>) => Promise<T>,
  transport = tpTransportFromEnv()): Promise<T> {
  const group = await startLocalGroup(tp, process.argv.slice(1), transport);
  let succeeded = false;
  try {
    const result = await fn(group?.engineOptions ?? {});
    succeeded = typeof result !== 'number' || result === 0;  // an exit code of 1: the group failed
    return result;
  } finally {
    if (group) {
      // After a clean close followers exit on their own (rank 0 told them); after a failure a
      // stalled one never would, so it gets only a moment.
      const clean = await group.close(succeeded ? 3000 : 200);
      if (succeeded && !clean) logLine('tp: a follower rank exited with an error (see its lines above)');
    }
  }
}
