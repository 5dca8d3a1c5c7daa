import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installShutdown } from './shutdown.js';

function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return { proc: emitter as unknown as Pick<NodeJS.Process, 'on' | 'removeListener'>, emitter, exits, exit: (c: number) => exits.push(c) };
}

describe('installShutdown', () => {
  it('drains once on SIGTERM then exits 0', async () => {
    const f = fakeProcess();
    let drained = 0;
    installShutdown({ drain: async () => void drained++, process: f.proc, exit: f.exit });
    f.emitter.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setTimeout(r, 10));
    expect(drained).toBe(1);
    expect(f.exits).toEqual([0]);
  });

  it('exits 1 at once on a second signal while draining', async () => {
    const f = fakeProcess();
    installShutdown({ drain: () => new Promise(() => {}), process: f.proc, exit: f.exit, timeoutMs: 10_000 });
    f.emitter.emit('SIGTERM', 'SIGTERM');
    f.emitter.emit('SIGINT', 'SIGINT');
    expect(f.exits).toEqual([1]);
  });

  it('exits 1 when the drain fails or overruns', async () => {
    const a = fakeProcess();
    installShutdown({ drain: async () => Promise.reject(new Error('x')), process: a.proc, exit: a.exit });
    a.emitter.emit('SIGTERM', 'SIGTERM');
    const b = fakeProcess();
    installShutdown({ drain: () => new Promise(() => {}), process: b.proc, exit: b.exit, timeoutMs: 20 });
    b.emitter.emit('SIGTERM', 'SIGTERM');
    await new Promise((r) => setTimeout(r, 60));
    expect(a.exits).toEqual([1]);
    expect(b.exits).toEqual([1]);
  });

  it('removes its handlers when disposed', () => {
    const f = fakeProcess();
    const dispose = installShutdown({ drain: async () => {}, process: f.proc, exit: f.exit });
    dispose();
    expect(f.emitter.listenerCount('SIGTERM')).toBe(0);
  });
});
