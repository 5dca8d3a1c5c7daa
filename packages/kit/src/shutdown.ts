// Graceful shutdown: on the first SIGTERM/SIGINT run the drain function once, then exit 0 (1 when
// it failed or overran its time); a second signal exits at once with 1.
import type { Logger } from './logger.js';

export interface ShutdownOptions {
  /** Finishes running work; its rejection makes the exit code 1. */
  readonly drain: (signal: string) => Promise<void>;
  readonly signals?: readonly NodeJS.Signals[];
  /** Longest drain before exiting anyway (code 1); default 30 s. */
  readonly timeoutMs?: number;
  readonly logger?: Logger;
  /** For tests: the process-like emitter and exit function. */
  readonly process?: Pick<NodeJS.Process, 'on' | 'removeListener'>;
  readonly exit?: (code: number) => void;
}

/** Installs the handlers; returns a function that removes them. */
export function installShutdown(options: ShutdownOptions): () => void {
  const proc = options.process ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  let draining = false;
  const handler = (signal: NodeJS.Signals) => {
    if (draining) {
      options.logger?.warn('second signal: exiting without waiting', { signal });
      exit(1);
      return;
    }
    draining = true;
    options.logger?.info('draining', { signal });
    const timer = setTimeout(() => {
      options.logger?.error('drain timed out', { signal, timeoutMs: options.timeoutMs ?? 30_000 });
      exit(1);
    }, options.timeoutMs ?? 30_000);
    timer.unref?.();
    options.drain(signal).then(
      () => {
        clearTimeout(timer);
        options.logger?.info('drained; exiting', { signal });
        exit(0);
      },
      (err: unknown) => {
        clearTimeout(timer);
        options.logger?.error('drain failed', { signal, err });
        exit(1);
      },
    );
  };
  for (const s of signals) proc.on(s, handler);
  return () => {
    for (const s of signals) proc.removeListener(s, handler);
  };
}
