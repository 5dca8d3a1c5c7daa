// Per-key rate limits: requests per minute and tokens per minute, as token buckets that refill
// continuously (a burst of up to one minute's allowance, then the steady rate). Prompt tokens are
// charged at admission; output tokens when the request ends (the bucket may go negative, which
// delays the key's next request instead of cutting a running stream).
import { GrpcCode, TandemError } from '@tandem/kit';
import type { Principal } from './auth.js';

class Bucket {
  private level: number;
  private at: number;
  constructor(private readonly perMinute: number, now: number) {
    this.level = perMinute;
    this.at = now;
  }
  private refill(now: number): void {
    this.level = Math.min(this.perMinute, this.level + ((now - this.at) / 60_000) * this.perMinute);
    this.at = now;
  }
  /** Seconds until `n` fits, 0 when it fits now. */
  waitFor(n: number, now: number): number {
    this.refill(now);
    const need = Math.min(n, this.perMinute) - this.level;
    return need <= 0 ? 0 : (need / this.perMinute) * 60;
  }
  take(n: number, now: number): void {
    this.refill(now);
    this.level -= n;
  }
}

export class RateLimiter {
  private readonly requests = new Map<string, Bucket>();
  private readonly tokens = new Map<string, Bucket>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Charges one request and its prompt tokens, or throws RESOURCE_EXHAUSTED with a retry hint. */
  admit(p: Principal, promptTokens: number): void {
    const t = this.now();
    const rb = p.requestsPerMinute !== undefined ? this.bucket(this.requests, p.keyId, p.requestsPerMinute, t) : undefined;
    const tb = p.tokensPerMinute !== undefined ? this.bucket(this.tokens, p.keyId, p.tokensPerMinute, t) : undefined;
    const waitR = rb?.waitFor(1, t) ?? 0;
    const waitT = tb?.waitFor(promptTokens, t) ?? 0;
    if (waitR > 0 || waitT > 0) {
      const what = waitR > 0 ? `${p.requestsPerMinute} requests per minute` : `${p.tokensPerMinute} tokens per minute`;
      throw new TandemError(GrpcCode.RESOURCE_EXHAUSTED, `rate limit of API key "${p.keyId}" exceeded (${what})`, {
        retryAfterSeconds: Math.max(1, Math.ceil(Math.max(waitR, waitT))),
      });
    }
    rb?.take(1, t);
    tb?.take(promptTokens, t);
  }

  /** Charges output tokens after the fact. */
  charge(p: Principal, outputTokens: number): void {
    if (p.tokensPerMinute === undefined || outputTokens <= 0) return;
    this.bucket(this.tokens, p.keyId, p.tokensPerMinute, this.now()).take(outputTokens, this.now());
  }

  private bucket(map: Map<string, Bucket>, key: string, perMinute: number, now: number): Bucket {
    let b = map.get(key);
    if (!b) map.set(key, (b = new Bucket(perMinute, now)));
    return b;
  }
}
