// TandemClient: the typed gRPC client for tandem.v1. Chat takes and yields the Cohere Chat v2
// shapes (@tandem/schemas), so code written against /v2/chat ports over unchanged.
import { credentials, status, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';
import { chatEventFromProto, chatRequestToProto, ChatResponseCollector, finishReasonFromProto, TandemGrpcClient, tandemV1, usageFromProto } from '@tandem/proto';
import { validateChatRequest, type ChatRequest, type ChatResponse, type ChatStreamEvent, type FinishReason, type Usage } from '@tandem/schemas';
import { CallRunner, type RequestOptions, type RetryPolicy, type RunOptions } from './call.js';
import { TandemClientError } from './errors.js';
import { activeContext } from './trace.js';

export interface TandemClientOptions {
  /** host:port of the router's gRPC endpoint (e.g. "127.0.0.1:50051"). */
  readonly address: string;
  /** Sent as `authorization: Bearer <key>`. */
  readonly apiKey?: string;
  /** Default per-call deadline in ms (over all retries); none by default. */
  readonly deadlineMs?: number;
  /** Default: insecure (plaintext) — pass credentials.createSsl() for TLS. */
  readonly credentials?: ChannelCredentials;
  readonly retry?: RetryPolicy;
  /** Validate chat requests before sending (the server validates too); default true. */
  readonly validate?: boolean;
  readonly channelOptions?: ChannelOptions;
  /** For tests: the random source for retry jitter. */
  readonly random?: () => number;
}

/** A chat request as `/v2/chat` takes it; `stream` is ignored (gRPC always streams). */
export type ChatInput = ChatRequest;

export interface GenerateInput {
  readonly model: string;
  /** Text (tokenized without a chat template) or token ids; exactly one. */
  readonly prompt?: string;
  readonly promptTokens?: readonly number[];
  readonly maxTokens: number;
  readonly sampling?: Partial<tandemV1.SamplingParams>;
  readonly stopSequences?: readonly string[];
  readonly stopTokenIds?: readonly number[];
  readonly ignoreEos?: boolean;
  readonly logprobs?: boolean;
  readonly priority?: number;
}

export interface GenerateChunk {
  readonly tokenIds: number[];
  readonly text: string;
  readonly logprobs: number[];
  readonly top: { tokenIds: number[]; logprobs: number[] }[];
  /** On the last chunk only. */
  readonly finishReason?: FinishReason;
  readonly usage?: Usage;
}

export interface ModelDescription {
  readonly id: string;
  readonly ownedBy: string;
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly replicas: number;
  readonly tensorParallel: number;
  readonly dtype: string;
}

export class TandemClient {
  private readonly grpc: InstanceType<typeof TandemGrpcClient>;
  private readonly runner: CallRunner;

  constructor(private readonly options: TandemClientOptions) {
    if (!options.address) throw new TypeError('TandemClient: address is required (host:port)');
    this.grpc = new TandemGrpcClient(options.address, options.credentials ?? credentials.createInsecure(), options.channelOptions);
    this.runner = new CallRunner({
      apiKey: options.apiKey,
      deadlineMs: options.deadlineMs,
      random: options.random,
      retry: { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 2000, ...options.retry },
    });
  }

  /**
   * Streams the reply as Cohere Chat v2 events: message-start … message-end. The trace context is
   * the one active when chat() is called; the request is sent on the first next().
   */
  chat(request: ChatInput, options: RequestOptions = {}): AsyncGenerator<ChatStreamEvent> {
    return this.chatEvents(request, { ...options, traceContext: activeContext() });
  }

  private async *chatEvents(request: ChatInput, options: RunOptions): AsyncGenerator<ChatStreamEvent> {
    const msg = this.toProto(request);
    for await (const ev of this.runner.stream((md, o) => this.grpc.chat(msg, md, o), options)) yield chatEventFromProto(ev);
  }

  /** The whole reply (text, tool plan, tool calls, citations, usage, finish reason). */
  async chatComplete(request: ChatInput, options: RequestOptions = {}): Promise<ChatResponse> {
    const c = new ChatResponseCollector();
    for await (const ev of this.chat(request, options)) c.add(ev);
    if (!c.done) throw new TandemClientError(status.UNAVAILABLE, 'stream ended before message-end');
    return c.response();
  }

  /** Raw completion, streamed in token batches. */
  generate(input: GenerateInput, options: RequestOptions = {}): AsyncGenerator<GenerateChunk> {
    return this.generateChunks(input, { ...options, traceContext: activeContext() });
  }

  private async *generateChunks(input: GenerateInput, options: RunOptions): AsyncGenerator<GenerateChunk> {
    const req = tandemV1.GenerateRequest.fromPartial({
      model: input.model,
      prompt: input.prompt,
      promptTokens: input.promptTokens ? [...input.promptTokens] : [],
      maxTokens: input.maxTokens,
      sampling: input.sampling,
      stopSequences: input.stopSequences ? [...input.stopSequences] : [],
      stopTokenIds: input.stopTokenIds ? [...input.stopTokenIds] : [],
      ignoreEos: input.ignoreEos,
      logprobs: input.logprobs,
      priority: input.priority,
    });
    for await (const ev of this.runner.stream((md, o) => this.grpc.generate(req, md, o), options)) {
      const chunk: GenerateChunk = {
        tokenIds: ev.tokenIds,
        text: ev.text,
        logprobs: ev.logprobs,
        top: ev.top,
        ...(ev.finishReason !== tandemV1.FinishReason.FINISH_REASON_UNSPECIFIED ? { finishReason: finishReasonFromProto(ev.finishReason) } : {}),
        ...(ev.usage ? { usage: usageFromProto(ev.usage) } : {}),
      };
      if (ev.error !== undefined && ev.error !== '') throw new TandemClientError(status.INTERNAL, ev.error);
      yield chunk;
    }
  }

  async tokenize(model: string, text: string, options: RequestOptions & { addSpecialTokens?: boolean } = {}): Promise<{ tokens: number[]; tokenStrings: string[] }> {
    const r = await this.runner.unary(this.grpc.tokenize.bind(this.grpc), { model, text, addSpecialTokens: options.addSpecialTokens }, options);
    return { tokens: r.tokens, tokenStrings: r.tokenStrings };
  }

  async detokenize(model: string, tokens: readonly number[], options: RequestOptions & { skipSpecialTokens?: boolean } = {}): Promise<string> {
    const r = await this.runner.unary(this.grpc.detokenize.bind(this.grpc), { model, tokens: [...tokens], skipSpecialTokens: options.skipSpecialTokens }, options);
    return r.text;
  }

  async listModels(options: RequestOptions = {}): Promise<ModelDescription[]> {
    const r = await this.runner.unary(this.grpc.listModels.bind(this.grpc), {}, options);
    return r.models;
  }

  close(): void {
    this.grpc.close();
  }

  private toProto(request: ChatInput): tandemV1.ChatRequest {
    if (this.options.validate !== false) {
      const v = validateChatRequest(request);
      if (!v.ok) throw new TandemClientError(status.INVALID_ARGUMENT, `invalid chat request: ${v.issues.length} problem${v.issues.length === 1 ? '' : 's'}`, v.issues);
      return chatRequestToProto(v.value);
    }
    try {
      return chatRequestToProto(request);
    } catch (e) {
      throw new TandemClientError(status.INVALID_ARGUMENT, `invalid chat request: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}
