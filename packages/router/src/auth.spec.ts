import { describe, expect, it } from 'vitest';
import { ANONYMOUS, ApiKeyStore, keyFromAuthorization } from './auth.js';
import { TandemError } from '@tandem/kit';
import { RateLimiter } from './rate-limit.js';

const KEYS = JSON.stringify([
  { id: 'team-a', key: 'tk-aaaaaaaaaaaaaaaaaaaa', tenant: 'a', requestsPerMinute: 2 },
  { id: 'team-b', key: 'tk-bbbbbbbbbbbbbbbbbbbb', tokensPerMinute: 100 },
]);

function codeOf(f: () => unknown): string | undefined {
  try { f(); } catch (e) { return (e as TandemError).codeName; }
  return undefined;
}

describe('ApiKeyStore', () => {
  const store = ApiKeyStore.parse(KEYS, 'TANDEM_API_KEYS');
  it.each([
    { key: 'tk-aaaaaaaaaaaaaaaaaaaa', keyId: 'team-a', tenant: 'a' },
    { key: 'tk-bbbbbbbbbbbbbbbbbbbb', keyId: 'team-b', tenant: 'team-b' },
  ])('accepts $keyId', ({ key, keyId, tenant }) => {
    expect(store.authenticate(key)).toMatchObject({ keyId, tenant });
  });

  it.each([undefined, '', 'tk-aaaaaaaaaaaaaaaaaaab', 'tk-a'])('rejects %s as UNAUTHENTICATED without echoing it', (key) => {
    let err: TandemError | undefined;
    try { store.authenticate(key); } catch (e) { err = e as TandemError; }
    expect(err?.codeName).toBe('UNAUTHENTICATED');
    if (key) expect(err?.message).not.toContain(key);
  });

  it('no keys configured → anonymous', () => {
    expect(new ApiKeyStore([]).authenticate(undefined)).toBe(ANONYMOUS);
  });

  it('reports every problem of a bad key list with its path', () => {
    const bad = JSON.stringify([{ id: 'x', key: 'short' }, { id: 'x', key: 'long-enough-key-123', extra: 1 }]);
    expect(() => ApiKeyStore.parse(bad, 'keys.json')).toThrow(/keys\.json[\s\S]*\[0\]\.key[\s\S]*\[1\]/);
    expect(() => ApiKeyStore.parse('{', 'keys.json')).toThrow(/keys\.json: not valid JSON/);
  });

  it.each([
    { header: 'Bearer abc', key: 'abc' },
    { header: 'bearer   abc ', key: 'abc' },
    { header: 'abc', key: 'abc' },
    { header: undefined, key: undefined },
  ])('Authorization "$header" → $key', ({ header, key }) => {
    expect(keyFromAuthorization(header)).toBe(key);
  });
});

describe('RateLimiter', () => {
  it('requests per minute: a burst of the allowance, then a retry hint, then refills', () => {
    let now = 0;
    const rl = new RateLimiter(() => now);
    const p = { keyId: 'k', tenant: 't', weight: 1, requestsPerMinute: 2 };
    rl.admit(p, 10);
    rl.admit(p, 10);
    let err: TandemError | undefined;
    try { rl.admit(p, 10); } catch (e) { err = e as TandemError; }
    expect(err?.codeName).toBe('RESOURCE_EXHAUSTED');
    expect(err?.retryAfterSeconds).toBe(30);
    expect(err?.message).toContain('"k"');
    now = 30_000;
    expect(codeOf(() => rl.admit(p, 10))).toBeUndefined();
  });

  it('tokens per minute counts prompt tokens at admission and output tokens after', () => {
    let now = 0;
    const rl = new RateLimiter(() => now);
    const p = { keyId: 'k', tenant: 't', weight: 1, tokensPerMinute: 100 };
    rl.admit(p, 60);
    rl.charge(p, 60);
    expect(codeOf(() => rl.admit(p, 10))).toBe('RESOURCE_EXHAUSTED');
    now = 60_000;
    expect(codeOf(() => rl.admit(p, 10))).toBeUndefined();
  });

  it('keys without limits are never limited', () => {
    const rl = new RateLimiter(() => 0);
    for (let i = 0; i < 1000; i++) rl.admit(ANONYMOUS, 1e6);
  });
});
