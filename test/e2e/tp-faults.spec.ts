// Tensor-parallel groups under SIGKILL, with real processes: the router and shard groups of
// cohere2-tiny at TP 2 (one kernel thread per rank), self-healing on. Killing any rank mid-generation
// must take its whole group down by itself within 5 s (the engine's failure semantics), end the
// streams it was serving with a clear UNAVAILABLE error (the rest complete), keep new requests
// working through the other replica, and `tandem up`'s supervisor must bring the group back on the
// same address, where the router routes to it again.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalStack } from '@tandem/cli';
import { engineStats, MODEL, postJson, startStack, waitFor } from './harness.js';

const user = (content: string) => ({ role: 'user', content });
type ShardProcess = LocalStack['shards'][number];

/**
 * Greedy replies of the seed-0 tiny model that run ≥300 tokens (so they are mid-generation at the
 * kill) and parse cleanly on /v2/chat (some random replies open an action block they never close).
 */
const LONG_PROMPTS = ['a long story please', 'story 2', 'story 4', 'story 11', 'hi 0', 'tell me a long story'];
const MAX_TOKENS = 400;

interface Outcome {
  readonly replica: string | null;
  readonly kind: 'done' | 'error' | 'cut';
  readonly detail: string;
  readonly settledAt: number;
}

/** Opens one greedy stream (OpenAI or Cohere v2 SSE); resolves once it has its first token, with how it ends. */
async function openStream(base: string, i: number): Promise<{ replica: string | null; outcome: Promise<Outcome> }> {
  const openai = i % 2 === 0;
  const res = await postJson(base, openai ? '/v1/chat/completions' : '/v2/chat', {
    model: MODEL, messages: [user(LONG_PROMPTS[i % LONG_PROMPTS.length]!)], max_tokens: MAX_TOKENS, temperature: 0, stream: true,
  }, { signal: AbortSignal.timeout(60_000) });
  expect(res.status, await (res.ok ? Promise.resolve('') : res.text())).toBe(200);
  const replica = res.headers.get('x-tandem-replica');
  const outcome = res.text().then((text): Outcome => {
    const settledAt = Date.now();
    if (openai) {
      const err = /"error":\{"message":"([^"]*)"/.exec(text);
      if (err) return { replica, kind: 'error', detail: err[1]!, settledAt };
      return { replica, kind: text.includes('data: [DONE]') ? 'done' : 'cut', detail: text.slice(-200), settledAt };
    }
    const end = /event: message-end\ndata: (.*)\n/.exec(text);
    if (!end) return { replica, kind: 'cut', detail: text.slice(-200), settledAt };
    const delta = (JSON.parse(end[1]!) as { delta: { finish_reason: string; error?: string } }).delta;
    return delta.finish_reason === 'ERROR' ? { replica, kind: 'error', detail: delta.error ?? '', settledAt } : { replica, kind: 'done', detail: delta.finish_reason, settledAt };
  }, (e: unknown): Outcome => ({ replica, kind: 'cut', detail: String(e), settledAt: Date.now() }));
  return { replica, outcome };
}

async function chat(base: string, content: string): Promise<{ status: number; replica: string | null; body: string; ms: number }> {
  const t0 = Date.now();
  const res = await postJson(base, '/v2/chat', { model: MODEL, messages: [user(content)], max_tokens: 4, temperature: 0 }, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, replica: res.headers.get('x-tandem-replica'), body: await res.text(), ms: Date.now() - t0 };
}

interface ReadyReplica { id: string; address: string; healthy: boolean }
const readyz = async (stack: LocalStack) => (await (await fetch(`${stack.httpUrl}/readyz`)).json()) as { ready: boolean; replicas: ReadyReplica[] };

/** The router's id (r0, r1, …) for a shard group's address. */
async function replicaId(stack: LocalStack, shard: ShardProcess): Promise<string> {
  const r = (await readyz(stack)).replicas.find((x) => x.address === shard.address);
  expect(r, `the router lists ${shard.address}`).toBeDefined();
  return r!.id;
}

type Exit = { at: number; code: number | null; signal: NodeJS.Signals | null };
const exitOf = (c: ChildProcess): Promise<Exit> => new Promise((r) => c.once('exit', (code, signal) => r({ at: Date.now(), code, signal })));

/** Every other rank of the group exits by itself (non-zero, not the supervisor's SIGKILL) within 5 s of the kill. */
async function expectGroupGone(group: readonly ChildProcess[], exits: Promise<Exit>[], killed: number, killedAt: number): Promise<void> {
  const done = await Promise.all(exits);
  expect(done[killed]!.signal).toBe('SIGKILL');
  for (let rank = 0; rank < group.length; rank++) {
    if (rank === killed) continue;
    const e = done[rank]!;
    expect(e.at - killedAt, `rank ${rank} exited ${e.at - killedAt} ms after the kill`).toBeLessThan(5000);
    expect(e.signal, `rank ${rank} exited by itself`).toBeNull();
    expect(e.code, `rank ${rank} exit code`).not.toBe(0);
    expect(() => process.kill(group[rank]!.pid!, 0), `rank ${rank} pid is gone`).toThrow();
  }
}

/** The group was respawned on the same address, its engine serves, and the router sends it work again. */
async function expectBackAndServing(stack: LocalStack, shard: ShardProcess, restartsBefore: number, oldPids: readonly (number | undefined)[], id: string, logs: string[]): Promise<void> {
  await waitFor(async () => shard.restarts > restartsBefore, 15_000, 'the group to be respawned');
  expect(shard.ranks).toHaveLength(oldPids.length);
  for (const c of shard.ranks) expect(oldPids).not.toContain(c.pid);
  expect(logs.some((l) => l.includes(shard.address) && l.includes(`restart #${restartsBefore + 1}`)), logs.join('\n')).toBe(true);
  await waitFor(() => engineStats(shard.address).then(() => true, () => false), 30_000, `engine ${shard.address} serving again`);
  await waitFor(async () => (await readyz(stack)).replicas.some((r) => r.id === id && r.healthy), 10_000, `the router marking ${id} up`);
  const before = (await engineStats(shard.address)).generatedTokensTotal;
  // Idle ties and prefix affinity may favour the other replica: concurrent requests spread by load.
  let served = false;
  for (let round = 0; round < 6 && !served; round++) {
    const rs = await Promise.all([0, 1, 2, 3].map((i) => chat(stack.httpUrl, `back ${round} ${i}`)));
    for (const r of rs) expect(r.status, r.body).toBe(200);
    served = rs.some((r) => r.replica === id);
  }
  expect(served, `a request routed to the restarted ${id}`).toBe(true);
  expect(Number((await engineStats(shard.address)).generatedTokensTotal)).toBeGreaterThan(Number(before));
}

describe('two replicas x TP 2: SIGKILL one rank mid-generation', () => {
  let stack: LocalStack;
  const logs: string[] = [];

  beforeAll(async () => {
    stack = await startStack(2, {}, { tp: 2, restart: true, log: (l) => logs.push(l) });
  });

  afterAll(async () => {
    await stack?.stop(3000);
  });

  const scenario = async (replica: number, rank: number) => {
    const shard = stack.shards[replica]!;
    const id = await replicaId(stack, shard);
    const group = [...shard.ranks];
    const oldPids = group.map((c) => c.pid);
    const restartsBefore = shard.restarts;
    const exits = group.map(exitOf);
    const streams = await Promise.all(LONG_PROMPTS.map((_, i) => openStream(stack.httpUrl, i)));
    expect(streams.some((s) => s.replica === id), `some streams run on ${id}: ${streams.map((s) => s.replica).join(',')}`).toBe(true);

    const killedAt = Date.now();
    group[rank]!.kill('SIGKILL');
    const fresh = Promise.all([0, 1, 2, 3].map((i) => chat(stack.httpUrl, `right after ${i}`)));

    const outcomes = await Promise.all(streams.map((s) => s.outcome));
    for (const o of outcomes) {
      const after = o.settledAt - killedAt;
      if (o.replica === id) {
        // Every stream there was still generating (≥300 tokens each, killed right after the first
        // ones): it must end with an error a client can see, never look like a normal finish.
        expect(o.kind, `stream on the killed ${id} after ${after} ms: ${o.detail}`).toBe('error');
        // The router's mid-stream UNAVAILABLE, or (Cohere v2 only) the engine's own finish_reason ERROR.
        expect(o.detail).toMatch(/UNAVAILABLE|tensor-parallel group failed/);
        expect(after, `error after ${after} ms`).toBeLessThan(5000);
      } else {
        // The survivors finish their ≤400 tokens on 2 shared cores while the failed group restarts.
        expect(o.kind, `stream on ${o.replica}: ${o.detail}`).toBe('done');
        expect(after, `completion after ${after} ms`).toBeLessThan(15_000);
      }
    }
    for (const r of await fresh) expect(r.status, `${r.body} (${r.ms} ms)`).toBe(200);
    await expectGroupGone(group, exits, rank, killedAt);
    await expectBackAndServing(stack, shard, restartsBefore, oldPids, id, logs);
  };

  it('rank 1 (a follower) of replica 0', { timeout: 60_000 }, () => scenario(0, 1));
  it('rank 0 (the leader) of replica 1', { timeout: 60_000 }, () => scenario(1, 0));
});

describe('one replica x TP 2: SIGKILL a rank', () => {
  let stack: LocalStack;
  const logs: string[] = [];

  beforeAll(async () => {
    stack = await startStack(1, {}, { tp: 2, restart: true, log: (l) => logs.push(l) });
  });

  afterAll(async () => {
    await stack?.stop(3000);
  });

  it('requests during the outage fail fast with 503 UNAVAILABLE; after the restart they succeed', { timeout: 60_000 }, async () => {
    const shard = stack.shards[0]!;
    const id = await replicaId(stack, shard);
    const group = [...shard.ranks];
    const oldPids = group.map((c) => c.pid);
    const exits = group.map(exitOf);
    expect((await chat(stack.httpUrl, 'before')).status).toBe(200);

    const killedAt = Date.now();
    group[1]!.kill('SIGKILL');
    // At once (the router still thinks the replica is up), then once the group is down (before the respawn is serving).
    const during = [await chat(stack.httpUrl, 'during 0')];
    await Promise.all(exits);
    during.push(await chat(stack.httpUrl, 'during 1'));
    for (const r of during) {
      expect(r.status, r.body).toBe(503);
      expect(r.body).toMatch(/UNAVAILABLE/);
      expect(r.body).toMatch(/replica/);
      expect(r.ms, `a failed request took ${r.ms} ms`).toBeLessThan(3000);
    }
    expect((await fetch(`${stack.httpUrl}/readyz`)).status).not.toBe(200);
    await expectGroupGone(group, exits, 1, killedAt);
    await expectBackAndServing(stack, shard, 0, oldPids, id, logs);
  });
});
