// API keys: loaded from a JSON file or a JSON string (env), compared in constant time, identified in
// logs by their id only. Each key names its tenant (the unit of fairness) and its rate limits.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { zodIssueLines } from '@tandem/schemas';
import { GrpcCode, TandemError } from '@tandem/kit';

export const ApiKeySchema = z.strictObject({
  /** Shown in logs and metrics instead of the key. */
  id: z.string().min(1),
  key: z.string().min(16, { message: 'must be at least 16 characters' }),
  /** Fairness group; defaults to the key id. */
  tenant: z.string().min(1).optional(),
  requestsPerMinute: z.number().positive().optional(),
  tokensPerMinute: z.number().positive().optional(),
  /** Fair-share weight of the tenant (default 1). */
  weight: z.number().positive().optional(),
});
export type ApiKey = z.infer<typeof ApiKeySchema>;

export const ApiKeyListSchema = z.array(ApiKeySchema).superRefine((keys, ctx) => {
  const seen = new Set<string>();
  keys.forEach((k, i) => {
    if (seen.has(k.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `duplicate key id "${k.id}"` });
    seen.add(k.id);
  });
});

export interface Principal {
  readonly keyId: string;
  readonly tenant: string;
  readonly requestsPerMinute?: number;
  readonly tokensPerMinute?: number;
  readonly weight: number;
}

/** Anonymous access (no keys configured): one shared tenant, no limits. */
export const ANONYMOUS: Principal = { keyId: 'anonymous', tenant: 'default', weight: 1 };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class ApiKeyStore {
  private readonly entries: { digest: Buffer; principal: Principal }[];

  constructor(keys: readonly ApiKey[]) {
    this.entries = keys.map((k) => ({
      digest: digest(k.key),
      principal: {
        keyId: k.id, tenant: k.tenant ?? k.id, weight: k.weight ?? 1,
        ...(k.requestsPerMinute !== undefined ? { requestsPerMinute: k.requestsPerMinute } : {}),
        ...(k.tokensPerMinute !== undefined ? { tokensPerMinute: k.tokensPerMinute } : {}),
      },
    }));
  }

  /** Parses a key list; `source` names where it came from in error messages. */
  static parse(json: string, source: string): ApiKeyStore {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (e) {
      throw new Error(`${source}: not valid JSON: ${(e as Error).message}`);
    }
    const r = ApiKeyListSchema.safeParse(raw);
    if (!r.success) throw new Error(`${source}: invalid API key list:\n  ${zodIssueLines(r.error).join('\n  ')}`);
    return new ApiKeyStore(r.data);
  }

  static async fromFile(path: string): Promise<ApiKeyStore> {
    return ApiKeyStore.parse(await readFile(path, 'utf8'), path);
  }

  get enabled(): boolean {
    return this.entries.length > 0;
  }

  tenantWeight(tenant: string): number {
    return this.entries.find((e) => e.principal.tenant === tenant)?.principal.weight ?? 1;
  }

  /**
   * The principal for a presented key. Compares the key's SHA-256 with every stored digest in constant
   * time and without stopping early, so timing says nothing about which key (or prefix) matched.
   */
  authenticate(presented: string | undefined): Principal {
    if (!this.enabled) return ANONYMOUS;
    if (presented === undefined || presented === '') {
      throw new TandemError(GrpcCode.UNAUTHENTICATED, 'missing API key: send "Authorization: Bearer <key>"');
    }
    const d = digest(presented);
    let found: Principal | undefined;
    for (const e of this.entries) {
      if (timingSafeEqual(d, e.digest)) found = e.principal;
    }
    if (!found) throw new TandemError(GrpcCode.UNAUTHENTICATED, 'invalid API key');
    return found;
  }
}

/** The key from an Authorization header ("Bearer K") or a bare key header value. */
export function keyFromAuthorization(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1] : header.trim() || undefined;
}
