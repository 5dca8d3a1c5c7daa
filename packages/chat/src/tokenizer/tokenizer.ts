// Model-folder tokenizer: loads tokenizer.json + tokenizer_config.json through @huggingface/tokenizers
// and adds the two things a chat server needs on top of it: encoding untrusted text so that
// control-token strings stay plain text, and an incremental detokenizer for streaming.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { IncrementalDetokenizer } from './detokenizer.js';

/** One piece of a rendered prompt. `trusted` pieces come from the template and may carry control tokens. */
export interface PromptPart {
  readonly text: string;
  readonly trusted: boolean;
}

export class TokenizerLoadError extends Error {
  override readonly name = 'TokenizerLoadError';
}

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
  decoder?: { type?: string } | null;
  model?: { type?: string };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class ChatTokenizer {
  /** The model folder's own chat template (tokenizer_config.json `chat_template`), if any. */
  readonly chatTemplate: string | undefined;
  /** Every special added token: content → id. */
  readonly specialTokens: ReadonlyMap<string, number>;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  private readonly full: Tokenizer;
  // Same files with the special tokens removed from the added-token list: text encoded with it can
  // never produce a control token (the JS twin of Rust tokenizers' `encode_special_tokens = true`).
  private readonly plain: Tokenizer;
  private readonly specialSplit: RegExp | null;
  private readonly byteLevel: boolean;
  private readonly idToSpecial: ReadonlyMap<number, string>;

  private constructor(json: TokenizerJson, config: Record<string, unknown>) {
    this.full = new Tokenizer(json, config);
    const added = json.added_tokens ?? [];
    const plainJson = { ...json, added_tokens: added.filter((t) => t.special !== true) };
    const plainConfig = { ...config, additional_special_tokens: [] };
    this.plain = new Tokenizer(plainJson, plainConfig);
    const specials = new Map<string, number>();
    for (const t of added) if (t.special === true) specials.set(t.content, t.id);
    this.specialTokens = specials;
    this.idToSpecial = new Map([...specials].map(([k, v]) => [v, k]));
    // Longest first so that a token that is a prefix of another never wins.
    const alternatives = [...specials.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.specialSplit = alternatives.length > 0 ? new RegExp(`(${alternatives.join('|')})`, 'g') : null;
    this.byteLevel = json.decoder?.type === 'ByteLevel';
    const template = config['chat_template'];
    this.chatTemplate = typeof template === 'string' ? template : undefined;
    this.bosToken = tokenString(config['bos_token']);
    this.eosToken = tokenString(config['eos_token']);
  }

  /** Builds a tokenizer from parsed tokenizer.json / tokenizer_config.json objects. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown = {}): ChatTokenizer {
    if (!isRecord(tokenizerJson) || !isRecord(tokenizerJson['model'])) {
      throw new TokenizerLoadError('tokenizer.json: expected an object with a "model" field');
    }
    if (!isRecord(tokenizerConfig)) throw new TokenizerLoadError('tokenizer_config.json: expected an object');
    const added = tokenizerJson['added_tokens'];
    if (added !== undefined && !Array.isArray(added)) {
      throw new TokenizerLoadError('tokenizer.json: "added_tokens" must be an array');
    }
    try {
      return new ChatTokenizer(tokenizerJson as TokenizerJson, tokenizerConfig);
    } catch (err) {
      throw new TokenizerLoadError(`tokenizer.json could not be loaded: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Loads `<dir>/tokenizer.json` and (optional) `<dir>/tokenizer_config.json`. */
  static async fromDir(dir: string): Promise<ChatTokenizer> {
    const json = await readJson(join(dir, 'tokenizer.json'), true);
    const config = (await readJson(join(dir, 'tokenizer_config.json'), false)) ?? {};
    return ChatTokenizer.fromJson(json, config);
  }

  /** Encodes untrusted text (user, tool, document content): control-token strings stay plain text. */
  encode(text: string): number[] {
    if (text.length === 0) return [];
    return this.plain.encode(text, { add_special_tokens: false }).ids;
  }

  /** Encodes trusted text (template output): special-token strings become their special tokens. */
  encodeTrusted(text: string): number[] {
    return this.encodeParts([{ text, trusted: true }]);
  }

  /**
   * Encodes a rendered prompt. Special tokens are recognised only inside trusted parts; the text
   * between them is encoded as one run across part boundaries, so the ids equal those of encoding
   * the whole prompt string whenever untrusted parts contain no control-token strings.
   */
  encodeParts(parts: readonly PromptPart[]): number[] {
    const ids: number[] = [];
    let run = '';
    const flush = (): void => {
      if (run.length > 0) ids.push(...this.encode(run));
      run = '';
    };
    for (const part of parts) {
      if (!part.trusted || this.specialSplit === null) {
        run += part.text;
        continue;
      }
      const pieces = part.text.split(this.specialSplit);
      pieces.forEach((piece, i) => {
        // split() with one capture group puts matches at the odd indices.
        if (i % 2 === 1) {
          flush();
          ids.push(this.specialTokens.get(piece) as number);
        } else {
          run += piece;
        }
      });
    }
    flush();
    return ids;
  }

  /** Decodes ids; special tokens are kept unless `skipSpecialTokens`. Never cleans up spaces. */
  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.full.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  /** The bytes one token stands for, or null when the decoder is not byte-level. */
  tokenBytes(id: number): Uint8Array | null {
    const special = this.idToSpecial.get(id);
    if (special !== undefined) return new TextEncoder().encode(special);
    if (!this.byteLevel) return null;
    const piece = this.full.id_to_token(id);
    if (piece === undefined) return new Uint8Array(0);
    return byteLevelToBytes(piece);
  }

  tokenId(token: string): number | undefined {
    return this.full.token_to_id(token);
  }

  tokenToString(id: number): string | undefined {
    return this.full.id_to_token(id);
  }

  isSpecial(id: number): boolean {
    return this.idToSpecial.has(id);
  }

  /** A streaming detokenizer over this tokenizer. */
  createDetokenizer(): IncrementalDetokenizer {
    return new IncrementalDetokenizer(this);
  }
}

function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v['content'] === 'string') return v['content'];
  return undefined;
}

async function readJson(path: string, required: boolean): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!required && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerLoadError(`cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new TokenizerLoadError(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

// GPT-2 byte-level alphabet: printable Latin-1 bytes map to themselves, the other bytes to U+0100+.
const BYTE_TO_CHAR: string[] = (() => {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = keep.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return table;
})();

const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The byte-level alphabet character for every byte value (index = byte). */
export function byteLevelAlphabet(): readonly string[] {
  return BYTE_TO_CHAR;
}

export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

function byteLevelToBytes(piece: string): Uint8Array {
  const out: number[] = [];
  for (const ch of piece) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b !== undefined) out.push(b);
    else out.push(...new TextEncoder().encode(ch));
  }
  return Uint8Array.from(out);
}
