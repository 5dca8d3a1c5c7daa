// @tandem/engine: TypeScript types for the N-API binding over include/tandem/engine.h.
// The engine is the bottom layer: these types are declared here and import nothing from packages/.

export type WeightDType = 'f32' | 'bf16' | 'f16';
export type FinishReason = 'length' | 'stop' | 'cancelled' | 'error';

export interface EngineOptions {
  /** HF model folder (config.json + safetensors). */
  modelDir: string;
  /** Kernel threads; default TANDEM_THREADS, else cores. */
  threads?: number;
  /** KV block size in positions; default 16. */
  blockSize?: number;
  /** Budget for both KV pools in bytes; default 512 MiB. */
  kvMemoryBytes?: number;
  /** Tokens computed per step; default 512. */
  maxBatchTokens?: number;
  /** Sequences running at once; default 64. */
  maxRunning?: number;
  /** Prompt + output limit; default the config's max_position_embeddings. */
  maxSeqLen?: number;
  /** Called on the JS thread while loading. */
  onProgress?: (fraction: number, stage: string) => void;
  /** Tensor parallelism: this process is rank 0 of a group of worldSize (default 0/1 = off). */
  rank?: number;
  worldSize?: number;
  /** host:port where rank 0 listens for the other ranks (required when worldSize > 1). */
  leaderAddr?: string;
  /** Every rank must join within this; default 60000. */
  rendezvousTimeoutMs?: number;
  /** A collective, or a silent rank 0 seen from a follower, fails after this; default 5000. */
  collectiveTimeoutMs?: number;
  /** Collective transport; the same on every rank (default 'auto': shared memory on one host, else TCP). */
  tpTransport?: TpTransport;
}

/** 'auto' picks shared memory when every rank is on this host and can map it, else TCP. */
export type TpTransport = 'auto' | 'tcp' | 'shm';

/** A follower rank (1..worldSize-1) of a tensor-parallel group. */
export interface FollowerOptions {
  modelDir: string;
  threads?: number;
  rank: number;
  worldSize: number;
  leaderAddr: string;
  rendezvousTimeoutMs?: number;
  collectiveTimeoutMs?: number;
  tpTransport?: TpTransport;
}

export interface ModelInfo {
  vocabSize: number; hiddenSize: number; numLayers: number; numHeads: number; numKvHeads: number;
  headDim: number; intermediateSize: number; slidingWindow: number;
  numSlidingLayers: number; numFullLayers: number; maxPositionEmbeddings: number;
  bosTokenId: number; eosTokenId: number; padTokenId: number; logitScale: number;
  weightDtype: WeightDType; blockSize: number; maxBatchTokens: number; maxRunning: number;
  maxSeqLen: number; threads: number; slidingBlocksTotal: number; fullBlocksTotal: number;
  weightBytes: number; kvBytes: number; isa: string;
  /** Tensor parallelism: this rank and the group size (1 without). weightBytes/kvBytes are per rank. */
  tpRank: number; tpWorldSize: number;
  /** The collective transport rank 0 ended up with: 'none' without tensor parallelism. */
  tpTransport: 'none' | 'tcp' | 'shm';
}

export interface SamplingParams {
  /** 0 = greedy (default). */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  seed?: number | bigint;
  topLogprobs?: number;
}

export interface GenerateRequest {
  prompt: readonly number[] | Int32Array;
  maxTokens: number;
  sampling?: SamplingParams;
  stopTokenIds?: readonly number[];
  ignoreEos?: boolean;
  /** Larger runs first; default 0. */
  priority?: number;
}

export interface TokenEvent {
  requestId: bigint;
  tokens: number[];
  logprobs: number[];
  /** Per token, the best alternatives (when topLogprobs > 0). */
  top: { ids: number[]; logprobs: number[] }[];
  /** Present on the last event. */
  finish?: FinishReason;
  error?: string;
  promptTokens: number;
  completionTokens: number;
}

export interface EngineStats {
  waiting: number; running: number;
  slidingBlocksUsed: number; slidingBlocksTotal: number;
  fullBlocksUsed: number; fullBlocksTotal: number;
  steps: number; preemptions: number; promptTokensTotal: number; generatedTokensTotal: number;
  /** Rank 0's collectives so far (0 without tensor parallelism): calls, payload bytes, seconds. */
  collectiveOps: number; collectiveBytes: number; collectiveSeconds: number;
  /**
   * True once the tensor-parallel group failed (a rank died or stalled; noticed within about a
   * second even when idle). Every request then fails with UNAVAILABLE: report NOT_SERVING and exit.
   */
  tpGroupFailed: boolean;
}

export type EngineErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'IO_ERROR' | 'MODEL_FORMAT' | 'RESOURCE_EXHAUSTED'
  | 'CANCELLED' | 'INTERNAL' | 'UNSUPPORTED' | 'UNAVAILABLE';

/**
 * Error thrown by the binding; code mirrors tandem_status. The message starts with the field
 * ("prompt[3]: ...", "sampling.top_p: ...") or file it is about. Wrong JS types throw TypeError instead.
 */
export declare class EngineError extends Error {
  constructor(message: string, code: EngineErrorCode);
  readonly code: EngineErrorCode;
}

/**
 * One request's events, in order; the last one carries `finish`. Iterate it once; leaving a
 * for-await loop early cancels the request.
 */
export interface Generation extends AsyncIterable<TokenEvent> {
  readonly requestId: bigint;
  /**
   * Cancels at once (KV blocks are freed before the next step); the iterator ends with a
   * 'cancelled' event, or with the normal final event if the request finished in the same step.
   */
  cancel(): void;
}

export declare class Engine {
  /** Use Engine.load(). */
  private constructor();
  /** Loads off the JS thread; rejects with EngineError naming file and tensor on bad input. */
  static load(options: EngineOptions): Promise<Engine>;
  readonly info: ModelInfo;
  /** Validates synchronously (throws EngineError INVALID_ARGUMENT naming the field) and enqueues. */
  generate(request: GenerateRequest): Generation;
  /** True when cancelled now; false when the request already finished or the engine is closed. */
  cancel(requestId: bigint): boolean;
  stats(): EngineStats;
  /** Logits (times logit_scale) for the last position, or every position. Runs off the JS thread. */
  logits(tokens: readonly number[] | Int32Array, options?: { allPositions?: boolean }): Promise<Float32Array[]>;
  /** Cancels everything and frees the engine off the JS thread; idempotent. Later calls throw. */
  close(): Promise<void>;
}

/** The ISA the CPU kernels dispatch to on this machine. */
export declare function activeIsa(): string;

/**
 * Runs a follower rank of a tensor-parallel group (loads its weight slices, joins rank 0, runs the
 * steps rank 0 broadcasts). Resolves when rank 0's engine closes; rejects with EngineError
 * (UNAVAILABLE) when the group fails, or INVALID_ARGUMENT naming a bad field.
 */
export declare function runFollower(options: FollowerOptions): Promise<void>;
