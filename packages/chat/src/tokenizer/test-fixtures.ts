// Test helper: loads the gzipped real tokenizer fixtures (Qwen3, Llama 3) shipped in __fixtures__.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ChatTokenizer } from './tokenizer.js';

export const FIXTURES_DIR = join(import.meta.dirname, '..', '__fixtures__');
export const REAL_TOKENIZERS = ['qwen3', 'llama3'] as const;

const cache = new Map<string, ChatTokenizer>();

export function loadFixtureTokenizer(name: (typeof REAL_TOKENIZERS)[number]): ChatTokenizer {
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = join(FIXTURES_DIR, name);
  const json = JSON.parse(gunzipSync(readFileSync(join(dir, 'tokenizer.json.gz'))).toString('utf8')) as unknown;
  const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as unknown;
  const tok = ChatTokenizer.fromJson(json, config);
  cache.set(name, tok);
  return tok;
}
