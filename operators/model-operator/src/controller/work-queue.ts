// A keyed work queue: one reconcile per key at a time, duplicate triggers coalesce, failures back
// off exponentially per key (1 s … 5 min), and `after` schedules a deadline-driven revisit.
export interface WorkQueueOptions {
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
}

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly work: (key: string) => Promise<{ requeueAfterMs?: number | undefined }>,
    private readonly onError: (key: string, err: unknown, retryInMs: number) => void,
    options: WorkQueueOptions = {},
  ) {
    this.base = options.baseDelayMs ?? 1000;
    this.max = options.maxDelayMs ?? 300_000;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.pending.has(key)) return;
    this.pending.add(key);
    queueMicrotask(() => void this.process(key));
  }

  after(key: string, ms: number): void {
    if (this.stopped) return;
    const existing = this.timers.get(key);
    if (existing !== undefined) clearTimeout(existing);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** Milliseconds until the retry after the n-th consecutive failure. */
  backoff(n: number): number {
    return Math.min(this.max, this.base * 2 ** Math.max(0, n - 1));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  get idle(): boolean {
    return this.pending.size === 0 && this.running.size === 0;
  }

  private async process(key: string): Promise<void> {
    this.pending.delete(key);
    if (this.stopped) return;
    this.running.add(key);
    try {
      const { requeueAfterMs } = await this.work(key);
      this.failures.delete(key);
      if (requeueAfterMs !== undefined) this.after(key, requeueAfterMs);
    } catch (err) {
      const n = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, n);
      const delay = this.backoff(n);
      this.onError(key, err, delay);
      this.after(key, delay);
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
    }
  }
}
