// Cohere's special tokens and where they live in the vocabularies Tandem writes.
//
// Full-size presets (vocab 256000) use the real ids where they are known (<PAD> 0, <BOS_TOKEN> 5,
// <|END_OF_TURN_TOKEN|> 255001, <|START_THINKING|>…<|END_RESPONSE|> 255019–255022, from Cohere2Config
// and Cohere's tokenizer tests). The other ids are NOT published in our references; the values
// below follow the Command R vocabulary layout and are a choice, marked `verified: false`. Runtime
// code must read ids from tokenizer.json, never from this table.
// Small presets put the same tokens, in the same order, at the top of the vocabulary.

export interface SpecialTokenSpec {
  readonly content: string;
  /** Id in a 256000-token vocabulary. */
  readonly fullId: number;
  readonly verified: boolean;
}

export const COHERE_SPECIAL_TOKENS: readonly SpecialTokenSpec[] = [
  { content: '<PAD>', fullId: 0, verified: true },
  { content: '<UNK>', fullId: 1, verified: false },
  { content: '<CLS>', fullId: 2, verified: false },
  { content: '<SEP>', fullId: 3, verified: false },
  { content: '<MASK_TOKEN>', fullId: 4, verified: false },
  { content: '<BOS_TOKEN>', fullId: 5, verified: true },
  { content: '<EOS_TOKEN>', fullId: 6, verified: false },
  { content: '<EOP_TOKEN>', fullId: 7, verified: false },
  { content: '<|START_OF_TURN_TOKEN|>', fullId: 255000, verified: false },
  { content: '<|END_OF_TURN_TOKEN|>', fullId: 255001, verified: true },
  { content: '<|USER_TOKEN|>', fullId: 255006, verified: false },
  { content: '<|CHATBOT_TOKEN|>', fullId: 255007, verified: false },
  { content: '<|SYSTEM_TOKEN|>', fullId: 255008, verified: false },
  { content: '<|START_THINKING|>', fullId: 255019, verified: true },
  { content: '<|END_THINKING|>', fullId: 255020, verified: true },
  { content: '<|START_RESPONSE|>', fullId: 255021, verified: true },
  { content: '<|END_RESPONSE|>', fullId: 255022, verified: true },
  { content: '<|START_ACTION|>', fullId: 255023, verified: false },
  { content: '<|END_ACTION|>', fullId: 255024, verified: false },
  { content: '<|START_TOOL_RESULT|>', fullId: 255025, verified: false },
  { content: '<|END_TOOL_RESULT|>', fullId: 255026, verified: false },
  { content: '<|START_TEXT|>', fullId: 255027, verified: false },
  { content: '<|END_TEXT|>', fullId: 255028, verified: false },
];

/** The control tokens of the cmd3 chat format (a user must never be able to produce these). */
export const CMD3_CONTROL_TOKENS: readonly string[] = COHERE_SPECIAL_TOKENS.map((t) => t.content);

export const FULL_VOCAB_SIZE = 256000;

/** Where each special token goes for a vocabulary of `vocabSize`. */
export function specialTokenIds(vocabSize: number): Map<string, number> {
  const out = new Map<string, number>();
  if (vocabSize >= FULL_VOCAB_SIZE) {
    for (const t of COHERE_SPECIAL_TOKENS) out.set(t.content, t.fullId);
  } else {
    const base = vocabSize - COHERE_SPECIAL_TOKENS.length;
    COHERE_SPECIAL_TOKENS.forEach((t, i) => out.set(t.content, base + i));
  }
  return out;
}
