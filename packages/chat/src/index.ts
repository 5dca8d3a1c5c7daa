// @tandem/chat: the Command A / Command R7B chat layer — tokenizer, cmd3 prompt rendering, Jinja
// chat templates, streaming output parsing into Chat v2 events, and preset tokenizer files.
export { ChatTokenizer, TokenizerLoadError, type PromptPart } from './tokenizer/tokenizer.js';
export { IncrementalDetokenizer } from './tokenizer/detokenizer.js';
export { renderCmd3, withCitations, CMD3_TOKENS } from './render/cmd3.js';
export type { Cmd3Options, Cmd3Message, Cmd3Content, Cmd3Citation, Cmd3Tool, Cmd3ToolCall, Cmd3SafetyMode, RenderedPrompt } from './render/cmd3-types.js';
export { prepareCmd3, renderChatRequest, type ChatContext, type PreparedChat, type ResolvedDocument } from './render/from-request.js';
export { cmd3OptionsFromMelody, renderMelodyCase, MelodyCaseError } from './render/melody-case.js';
export { renderChatTemplate, hfTemplateVars, ChatTemplateError, type ChatTemplateOptions } from './render/jinja.js';
export { pyJson } from './render/py-json.js';
export { Cmd3OutputParser, type OutputParserOptions } from './parse/output-parser.js';
export { CitationExtractor, extractCitations, parseCitationSources, type RawCitation } from './parse/citation-extractor.js';
export { writeTokenizerFiles, buildTokenizerFiles, TokenizerFilesError, type TokenizerFilesOptions } from './tokenizer-files/write-tokenizer-files.js';
export { COHERE_SPECIAL_TOKENS, CMD3_CONTROL_TOKENS, specialTokenIds, FULL_VOCAB_SIZE } from './tokenizer-files/special-tokens.js';
export { cmd3ChatTemplate } from './tokenizer-files/chat-template.js';
