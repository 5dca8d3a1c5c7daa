// Writes tokenizer.json + tokenizer_config.json for a model preset (`tandem model init`): a
// byte-level BPE (full 256-byte alphabet, merges learned from a built-in text) carrying Cohere's
// special tokens and the cmd3 chat template. The files load unchanged in Hugging Face tokenizers /
// transformers (test/python/check_tokenizer.py proves it).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as T from '../render/cmd3-text.js';
import { byteLevelAlphabet } from '../tokenizer/tokenizer.js';
import { trainByteLevelBpe } from './bpe-train.js';
import { cmd3ChatTemplate } from './chat-template.js';
import { COHERE_SPECIAL_TOKENS, FULL_VOCAB_SIZE, specialTokenIds } from './special-tokens.js';

export interface TokenizerFilesOptions {
  /** Model vocabulary size; every id written is below it. */
  readonly vocabSize: number;
  /** Preset name, recorded in the files. */
  readonly preset: string;
  /** Most merges to learn (default 2000; fewer when the vocabulary is small). */
  readonly maxMerges?: number;
}

export class TokenizerFilesError extends Error {
  override readonly name = 'TokenizerFilesError';
}

// Training text: the format's own instructions plus a multilingual sample, so common English
// words and prompt pieces become single tokens. Deterministic: same preset, same files.
const TRAINING_TEXT = [
  T.SAFETY_CONTEXTUAL, T.SAFETY_STRICT, T.LANGUAGES_LINE, T.DEFAULT_PREAMBLE, T.REASONING_PREAMBLE,
  ...T.TOOL_USE_CITATIONS, T.DEVELOPER_PREAMBLE_HEADER, T.JSON_MODE_INSTRUCTION,
  'The quick brown fox jumps over the lazy dog. Le cœur a ses raisons. ¿Dónde está la biblioteca?',
  'Größere Straßen. 今日はいい天気ですね。 안녕하세요. 我们今天去北京。 مرحبا بكم. Съешь же ещё этих булок.',
].join('\n');

export interface TokenizerFiles {
  readonly tokenizerJson: Record<string, unknown>;
  readonly tokenizerConfig: Record<string, unknown>;
}

/** Builds the two files' contents (pure; see writeTokenizerFiles). */
export function buildTokenizerFiles(opts: TokenizerFilesOptions): TokenizerFiles {
  const { vocabSize, preset } = opts;
  const nSpecial = COHERE_SPECIAL_TOKENS.length;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 + nSpecial) {
    throw new TokenizerFilesError(`vocabSize: must be an integer ≥ ${256 + nSpecial} (256 bytes + ${nSpecial} special tokens), got ${vocabSize}`);
  }
  if (vocabSize > FULL_VOCAB_SIZE && vocabSize !== FULL_VOCAB_SIZE) {
    // Larger vocabularies put the specials at the Cohere ids; anything else would be a guess.
    throw new TokenizerFilesError(`vocabSize: at most ${FULL_VOCAB_SIZE}, got ${vocabSize}`);
  }
  const specials = specialTokenIds(vocabSize);
  const taken = new Set(specials.values());
  const vocab: Record<string, number> = {};
  let next = 0;
  const nextFree = (): number => {
    while (taken.has(next)) next++;
    const id = next++;
    if (id >= vocabSize) throw new TokenizerFilesError('vocabSize: too small for the byte alphabet');
    return id;
  };
  for (const ch of byteLevelAlphabet()) vocab[ch] = nextFree();
  const room = Math.max(0, vocabSize - nSpecial - 256);
  // Control-token strings are cut out of the training text so that no merge can ever spell one:
  // user text must not be able to reach a special token's string through BPE either.
  let text = TRAINING_TEXT;
  for (const t of COHERE_SPECIAL_TOKENS) text = text.split(t.content).join(' ');
  const merges = trainByteLevelBpe(text, Math.min(room, opts.maxMerges ?? 2000));
  const kept: string[] = [];
  for (const [a, b] of merges) {
    if (vocab[a + b] !== undefined) continue;
    vocab[a + b] = nextFree();
    kept.push(`${a} ${b}`);
  }
  const addedTokens = COHERE_SPECIAL_TOKENS.map((t) => ({
    id: specials.get(t.content) as number,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  })).sort((x, y) => x.id - y.id);
  // Hugging Face tokenizers keeps an added token's id only when the model vocabulary has it too.
  for (const t of addedTokens) vocab[t.content] = t.id;
  const bos = '<BOS_TOKEN>';
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { [bos]: { id: bos, ids: [specials.get(bos) as number], tokens: [bos] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: kept,
    },
  };
  const tokenizerConfig = {
    tandem_preset: preset,
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: true,
    add_eos_token: false,
    bos_token: bos,
    eos_token: '<|END_OF_TURN_TOKEN|>',
    pad_token: '<PAD>',
    unk_token: '<UNK>',
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000,
    added_tokens_decoder: Object.fromEntries(addedTokens.map((t) => [String(t.id), { ...t, id: undefined }])),
    chat_template: cmd3ChatTemplate(),
  };
  return { tokenizerJson, tokenizerConfig };
}

/** Writes `<dir>/tokenizer.json` and `<dir>/tokenizer_config.json` for a preset. */
export async function writeTokenizerFiles(dir: string, opts: { vocabSize: number; preset: string }): Promise<void> {
  const files = buildTokenizerFiles(opts);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), `${JSON.stringify(files.tokenizerJson, null, 2)}\n`);
  await writeFile(join(dir, 'tokenizer_config.json'), `${JSON.stringify(files.tokenizerConfig, null, 2)}\n`);
}
