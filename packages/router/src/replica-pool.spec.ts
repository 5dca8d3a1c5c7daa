import { afterEach, describe, expect, it } from 'vitest';
import { engineV1 } from '@tandem/proto';
import type { EngineConnection } from './engine-client.js';
import { serviceDiscovery, type HostResolver } from './engine-discovery.js';
import { RouterMetrics } from './metrics.js';
import { PrefixIndex } from './prefix-affinity.js';
import { type AcquireRequest, ReplicaPool } from './replica-pool.js';

/** An in-memory engine that answers Info/Stats and remembers whether the pool closed it. */
class FakeConnection implements EngineConnection {
  closed = false;
  constructor(readonly address: string) {}
  // eslint-disable-next-line require-yield
  async *generate(): AsyncIterable<engineV1.GenerateResponse> {
    throw new Error('not used');
  }
  async stats(): Promise<engineV1.StatsResponse> {
    return engineV1.StatsResponse.fromPartial({ kvPools: [{ name: 'full', blocksUsed: 0, blocksTotal: 1000 }] });
  }
  async info(): Promise<engineV1.InfoResponse> {
    return engineV1.InfoResponse.fromPartial({ model: 'fake', blockSize: 16, maxSeqLen: 4096, maxRunning: 8, fullBlocksTotal: 1000 });
  }
  close(): void {
    this.closed = true;
  }
}

const pools: ReplicaPool[] = [];
afterEach(() => {
  for (const p of pools.splice(0)) p.close();
});

/** A pool discovering `svc.local:50061` through a resolver whose answer the test changes. */
function discoveredPool(initial: string[] | Error) {
  let answer: string[] | Error = initial;
  const lookups: string[] = [];
  const resolver: HostResolver = async (host) => {
    lookups.push(host);
    if (answer instanceof Error) throw answer;
    return answer;
  };
  const conns = new Map<string, FakeConnection>();
  const logs: Array<{ level: string; msg: string }> = [];
  const pool = new ReplicaPool({
    discover: serviceDiscovery('svc.local:50061', resolver),
    connect: (a) => {
      const c = new FakeConnection(a);
      conns.set(a, c);
      return c;
    },
    pollIntervalMs: 10,
    metrics: new RouterMetrics(),
    prefixIndex: new PrefixIndex(),
    log: (level, msg) => logs.push({ level, msg }),
  });
  pools.push(pool);
  return { pool, conns, logs, lookups, set: (a: string[] | Error) => { answer = a; } };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 2000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function request(exclude: string[] = []): AcquireRequest {
  return { tenant: 't', priority: 0, cost: 10, prefixHashes: [], exclude: new Set(exclude), signal: new AbortController().signal };
}

const addresses = (pool: ReplicaPool) => pool.replicas.map((r) => r.address).sort();

describe('ReplicaPool with discovery', () => {
  it('turns resolved addresses into replicas and adds new ones as they appear', async () => {
    const t = discoveredPool(['10.0.0.1']);
    await t.pool.started();
    expect(t.lookups[0]).toBe('svc.local');
    expect(addresses(t.pool)).toEqual(['10.0.0.1:50061']);
    expect(t.pool.ready()).toBe(true);

    t.set(['10.0.0.1', '10.0.0.2']);
    await until(() => t.pool.replicas.length === 2 && t.pool.replicas.every((r) => r.healthy), 'the second replica');
    expect(addresses(t.pool)).toEqual(['10.0.0.1:50061', '10.0.0.2:50061']);
    // The new replica takes requests: excluding the first one still places.
    const first = t.pool.replicas.find((r) => r.address === '10.0.0.1:50061')!;
    const lease = await t.pool.acquire(request([first.id]));
    expect(lease.replica.address).toBe('10.0.0.2:50061');
    lease.release();
  });

  it('takes a vanished replica out of rotation at once and drops it when its request ends', async () => {
    const t = discoveredPool(['10.0.0.1', '10.0.0.2']);
    await t.pool.started();
    const leaving = t.pool.replicas.find((r) => r.address === '10.0.0.1:50061')!;
    const other = t.pool.replicas.find((r) => r.address === '10.0.0.2:50061')!;
    const lease = await t.pool.acquire(request([other.id]));
    expect(lease.replica).toBe(leaving);

    t.set(['10.0.0.2']);
    await until(() => t.pool.replicas.length === 1, 'the removal');
    expect(addresses(t.pool)).toEqual(['10.0.0.2:50061']);
    // Still serving its in-flight request: connection open, still a member.
    expect(t.conns.get('10.0.0.1:50061')!.closed).toBe(false);
    expect(t.pool.members.map((r) => r.address)).toContain('10.0.0.1:50061');
    // New requests never go there.
    for (let i = 0; i < 5; i++) {
      const l = await t.pool.acquire(request());
      expect(l.replica.address).toBe('10.0.0.2:50061');
      l.release();
    }
    await expect(t.pool.acquire(request([other.id]))).rejects.toThrow(/no ready replica/);

    lease.release();
    expect(t.conns.get('10.0.0.1:50061')!.closed).toBe(true);
    expect(t.pool.members.map((r) => r.address)).toEqual(['10.0.0.2:50061']);
  });

  it('drops an idle vanished replica immediately', async () => {
    const t = discoveredPool(['10.0.0.1', '10.0.0.2']);
    await t.pool.started();
    t.set(['10.0.0.2']);
    await until(() => t.conns.get('10.0.0.1:50061')!.closed, 'the connection to close');
    expect(t.pool.members.map((r) => r.address)).toEqual(['10.0.0.2:50061']);
  });

  it('keeps the last known replicas when resolution fails, logging once', async () => {
    const t = discoveredPool(['10.0.0.1']);
    await t.pool.started();
    t.set(new Error('queryA ESERVFAIL svc.local'));
    const before = t.lookups.length;
    await until(() => t.lookups.length >= before + 5, 'several failed lookups');
    expect(addresses(t.pool)).toEqual(['10.0.0.1:50061']);
    expect(t.pool.ready()).toBe(true);
    expect(t.conns.get('10.0.0.1:50061')!.closed).toBe(false);
    expect(t.logs.filter((l) => l.msg.includes('discovery failed'))).toHaveLength(1);

    t.set(['10.0.0.3']);
    await until(() => addresses(t.pool).join() === '10.0.0.3:50061', 'the recovered set');
    expect(t.logs.some((l) => l.msg.includes('discovery recovered'))).toBe(true);
  });

  it('starts empty (not ready) when the name does not resolve yet', async () => {
    const t = discoveredPool(new Error('getaddrinfo ENOTFOUND svc.local'));
    await t.pool.started();
    expect(t.pool.replicas).toHaveLength(0);
    expect(t.pool.ready()).toBe(false);
    await expect(t.pool.acquire(request())).rejects.toThrow(/no ready replica/);
    t.set(['10.0.0.1']);
    await until(() => t.pool.ready(), 'the first replica');
  });
});

describe('serviceDiscovery', () => {
  it('formats IPv4 and IPv6 addresses with the port, sorted and de-duplicated', async () => {
    const discover = serviceDiscovery('engine.ns.svc:50061', async () => ['fd00::2', '10.0.0.9', '10.0.0.9']);
    expect(await discover()).toEqual(['10.0.0.9:50061', '[fd00::2]:50061']);
  });

  it('rejects a service without a port', () => {
    expect(() => serviceDiscovery('engine.ns.svc', async () => [])).toThrow(/engineService/);
  });
});
