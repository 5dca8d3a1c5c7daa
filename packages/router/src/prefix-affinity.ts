// Prefix affinity: remembers which replica last served each block of prompt tokens, so a request
// that shares a long prefix (system prompt, documents, conversation so far) goes where the engine's
// prefix cache already holds those KV blocks. Blocks are chained hashes (block k's hash covers tokens
// 0..k), the same way the engine's block manager keys reusable blocks; a bounded LRU keeps memory flat.
import { createHash } from 'node:crypto';

/** Chained hashes of the full blocks of `tokens` (a partial last block is not cacheable). */
export function blockHashes(tokens: readonly number[], blockSize: number): string[] {
  const out: string[] = [];
  let prev = '';
  const buf = Buffer.alloc(blockSize * 4);
  for (let b = 0; (b + 1) * blockSize <= tokens.length; b++) {
    for (let i = 0; i < blockSize; i++) buf.writeInt32LE(tokens[b * blockSize + i]!, i * 4);
    prev = createHash('sha1').update(prev).update(buf).digest('base64');
    out.push(prev);
  }
  return out;
}

export class PrefixIndex {
  private readonly owners = new Map<string, string>();

  constructor(private readonly maxEntries = 200_000) {}

  get size(): number {
    return this.owners.size;
  }

  /** Records that `replica` now holds these blocks. */
  record(hashes: readonly string[], replica: string): void {
    for (const h of hashes) {
      this.owners.delete(h); // re-insert: Map order is the LRU order
      this.owners.set(h, replica);
    }
    while (this.owners.size > this.maxEntries) {
      const oldest = this.owners.keys().next().value as string;
      this.owners.delete(oldest);
    }
  }

  /** Per replica, the fraction (0..1) of the request's blocks that form the prefix it last served. */
  match(hashes: readonly string[]): Map<string, number> {
    const depth = new Map<string, number>();
    for (let k = 0; k < hashes.length; k++) {
      const owner = this.owners.get(hashes[k]!);
      if (owner === undefined) break; // chained hashes: nothing deeper can match
      depth.set(owner, k + 1);
    }
    const out = new Map<string, number>();
    for (const [r, d] of depth) out.set(r, hashes.length === 0 ? 0 : d / hashes.length);
    return out;
  }

  /** Forgets a replica (it died or was removed: its cache is gone). */
  forget(replica: string): void {
    for (const [h, r] of this.owners) if (r === replica) this.owners.delete(h);
  }
}
