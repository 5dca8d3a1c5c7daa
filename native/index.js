// @tandem/engine: the JS face of the N-API addon (types in index.d.ts).
// The addon only converts and moves work off the JS thread; this file checks JS types (TypeError
// naming the field), fills defaults, and turns the per-request event callback into an
// AsyncIterable. Range and semantic checks stay in the C API, which names the field it rejects.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ADDON_PATH = './build/Release/tandem_engine.node';

/** Error thrown by the binding; code mirrors tandem_status. */
export class EngineError extends Error {
  /**
   * @param {string} message
   * @param {string} code
   */
  constructor(message, code) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** @type {any} */
let addon;
// Loaded on first use so that importing the package (types, EngineError) works before a build.
function native() {
  if (addon === undefined) {
    try {
      addon = require(ADDON_PATH);
    } catch (cause) {
      throw new Error(
        `@tandem/engine: cannot load the native addon ${ADDON_PATH} (build it with \`npm run build -w @tandem/engine\`)`,
        { cause },
      );
    }
    addon.init(EngineError);
  }
  return addon;
}

/** The ISA the CPU kernels dispatch to on this machine. */
export function activeIsa() {
  return native().activeIsa();
}

const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;

function invalid(message) {
  return new EngineError(message, 'INVALID_ARGUMENT');
}

/** An integer field in [min, max]; undefined gives the default. */
function integer(value, field, min, max, dflt) {
  if (value === undefined) return dflt;
  if (typeof value !== 'number') throw new TypeError(`${field}: must be a number, got ${typeof value}`);
  if (!Number.isInteger(value)) throw new TypeError(`${field}: must be an integer, got ${value}`);
  if (value < min || value > max) throw invalid(`${field}: must be an integer in [${min}, ${max}], got ${value}`);
  return value;
}

/** A float field; NaN and infinities pass through for the C API to reject by name. */
function float(value, field, dflt) {
  if (value === undefined) return dflt;
  if (typeof value !== 'number') throw new TypeError(`${field}: must be a number, got ${typeof value}`);
  return value;
}

function boolean(value, field, dflt) {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw new TypeError(`${field}: must be a boolean, got ${typeof value}`);
  return value;
}

/** Token ids as an Int32Array (ids outside int32 cannot be represented, so they are rejected here). */
function tokenArray(value, field) {
  if (value instanceof Int32Array) return value;
  if (!Array.isArray(value)) throw new TypeError(`${field}: must be an array of token ids or an Int32Array`);
  const out = new Int32Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      throw new TypeError(`${field}[${i}]: must be an integer token id, got ${typeof v === 'number' ? v : typeof v}`);
    }
    if (v < I32_MIN || v > I32_MAX) throw invalid(`${field}[${i}]: ${v} is not a valid token id`);
    out[i] = v;
  }
  return out;
}

function seed(value, field) {
  if (value === undefined) return undefined;
  if (typeof value === 'bigint') {
    if (value < 0n || value >= 1n << 64n) throw invalid(`${field}: must be in [0, 2^64), got ${value}`);
    return value;
  }
  if (typeof value !== 'number') throw new TypeError(`${field}: must be a number or bigint, got ${typeof value}`);
  if (!Number.isSafeInteger(value) || value < 0) throw invalid(`${field}: must be a non-negative safe integer, got ${value}`);
  return BigInt(value);
}

function required(value, field) {
  if (value === undefined) throw new TypeError(`${field}: is required`);
  return value;
}

function object(value, field) {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object') throw new TypeError(`${field}: must be an object`);
  return value;
}

/** GenerateRequest -> the flat, fully defaulted params the addon reads. */
function requestParams(request) {
  if (request === null || typeof request !== 'object') throw new TypeError('request: must be an object');
  const s = object(request.sampling, 'sampling');
  return {
    prompt: tokenArray(request.prompt, 'prompt'),
    maxTokens: integer(required(request.maxTokens, 'maxTokens'), 'maxTokens', 0, U32_MAX, 0),
    temperature: float(s.temperature, 'sampling.temperature', 0),
    topK: integer(s.topK, 'sampling.topK', I32_MIN, I32_MAX, 0),
    topP: float(s.topP, 'sampling.topP', 1),
    minP: float(s.minP, 'sampling.minP', 0),
    repetitionPenalty: float(s.repetitionPenalty, 'sampling.repetitionPenalty', 1),
    frequencyPenalty: float(s.frequencyPenalty, 'sampling.frequencyPenalty', 0),
    presencePenalty: float(s.presencePenalty, 'sampling.presencePenalty', 0),
    seed: seed(s.seed, 'sampling.seed'),
    topLogprobs: integer(s.topLogprobs, 'sampling.topLogprobs', 0, U32_MAX, 0),
    stopTokenIds: request.stopTokenIds === undefined ? new Int32Array(0) : tokenArray(request.stopTokenIds, 'stopTokenIds'),
    ignoreEos: boolean(request.ignoreEos, 'ignoreEos', false),
    priority: integer(request.priority, 'priority', I32_MIN, I32_MAX, 0),
  };
}

function loadOptions(options) {
  if (options === null || typeof options !== 'object') throw new TypeError('options: must be an object');
  if (typeof options.modelDir !== 'string' || options.modelDir === '') {
    throw new TypeError('modelDir: must be a non-empty string (an HF model folder)');
  }
  let kv = options.kvMemoryBytes ?? 0;
  if (typeof kv === 'number') kv = integer(kv, 'kvMemoryBytes', 0, Number.MAX_SAFE_INTEGER, 0);
  else if (typeof kv !== 'bigint') throw new TypeError(`kvMemoryBytes: must be a number or bigint, got ${typeof kv}`);
  else if (kv < 0n || kv >= 1n << 64n) throw invalid(`kvMemoryBytes: must be in [0, 2^64), got ${kv}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
    throw new TypeError('onProgress: must be a function');
  }
  // 0 = the engine's default for every numeric option.
  return {
    modelDir: options.modelDir,
    threads: integer(options.threads, 'threads', 0, U32_MAX, 0),
    blockSize: integer(options.blockSize, 'blockSize', 0, U32_MAX, 0),
    kvMemoryBytes: kv,
    maxBatchTokens: integer(options.maxBatchTokens, 'maxBatchTokens', 0, U32_MAX, 0),
    maxRunning: integer(options.maxRunning, 'maxRunning', 0, U32_MAX, 0),
    maxSeqLen: integer(options.maxSeqLen, 'maxSeqLen', 0, U32_MAX, 0),
    ...tpOptions(options),
  };
}

/** Tensor-parallel fields (all 0 / '' = off); range checks stay in the C API. */
function tpOptions(options) {
  if (options.leaderAddr !== undefined && typeof options.leaderAddr !== 'string') {
    throw new TypeError(`leaderAddr: must be a string (host:port), got ${typeof options.leaderAddr}`);
  }
  if (options.tpTransport !== undefined && typeof options.tpTransport !== 'string') {
    throw new TypeError(`tpTransport: must be a string ("auto", "tcp" or "shm"), got ${typeof options.tpTransport}`);
  }
  return {
    rank: integer(options.rank, 'rank', 0, U32_MAX, 0),
    worldSize: integer(options.worldSize, 'worldSize', 0, U32_MAX, 0),
    leaderAddr: options.leaderAddr ?? '',
    rendezvousTimeoutMs: integer(options.rendezvousTimeoutMs, 'rendezvousTimeoutMs', 0, U32_MAX, 0),
    collectiveTimeoutMs: integer(options.collectiveTimeoutMs, 'collectiveTimeoutMs', 0, U32_MAX, 0),
    tpTransport: options.tpTransport ?? '',
  };
}

/**
 * Runs follower rank `options.rank` (>= 1) of a tensor-parallel group until rank 0's engine
 * closes (resolves) or the group fails (rejects with EngineError, code UNAVAILABLE).
 */
export async function runFollower(options) {
  if (options === null || typeof options !== 'object') throw new TypeError('options: must be an object');
  if (typeof options.modelDir !== 'string' || options.modelDir === '') {
    throw new TypeError('modelDir: must be a non-empty string (an HF model folder)');
  }
  return native().runFollower({ modelDir: options.modelDir, threads: integer(options.threads, 'threads', 0, U32_MAX, 0), ...tpOptions(options) });
}

/**
 * One request's events as an AsyncIterable. Events are queued as they arrive (the engine never
 * waits for the consumer); the iterator ends after the event that carries `finish`. Leaving a
 * for-await loop early (break, throw, return) cancels the request.
 */
class Generation {
  #engine;
  #queue = [];
  #waiters = []; // next() calls waiting for an event, oldest first
  #finalSeen = false; // the engine sent the last event: nothing more will arrive
  #ended = false; // the consumer has seen the end (or left)
  #iterated = false;

  constructor(engine, nativeEngine, params) {
    this.#engine = engine;
    /** @readonly */
    this.requestId = nativeEngine.generate(params, (event) => this.#push(event));
  }

  #push(event) {
    if (event.finish !== undefined) this.#finalSeen = true;
    if (this.#ended) return;
    const resolve = this.#waiters.shift();
    if (resolve !== undefined) {
      resolve(this.#step(event));
      // After the last event, calls that were already waiting see the end.
      if (this.#ended) for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
    } else {
      this.#queue.push(event);
    }
  }

  #step(event) {
    if (event.finish !== undefined) this.#ended = true;
    return { value: event, done: false };
  }

  /** Cancels at once; the iterator ends with a 'cancelled' event (or the normal last event). */
  cancel() {
    if (!this.#finalSeen) this.#engine.cancel(this.requestId);
  }

  [Symbol.asyncIterator]() {
    if (this.#iterated) throw new Error(`request ${this.requestId}: a Generation can be iterated only once`);
    this.#iterated = true;
    return {
      next: () => {
        if (this.#queue.length > 0) return Promise.resolve(this.#step(this.#queue.shift()));
        if (this.#ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiters.push(resolve);
        });
      },
      return: () => {
        this.#ended = true;
        this.#queue.length = 0;
        for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

const CONSTRUCT = Symbol('Engine.load');

export class Engine {
  #native;
  #closing = null;

  constructor(token, nativeEngine) {
    if (token !== CONSTRUCT) throw new TypeError('Engine instances are created by Engine.load(options)');
    this.#native = nativeEngine;
    /** @readonly */
    this.info = Object.freeze({ ...nativeEngine.info(), isa: native().activeIsa() });
  }

  /** Loads off the JS thread; rejects with EngineError naming file and tensor on bad input. */
  static async load(options) {
    const opts = loadOptions(options);
    const nativeEngine = await native().load(opts, options.onProgress);
    return new Engine(CONSTRUCT, nativeEngine);
  }

  /** Validates synchronously (TypeError / EngineError INVALID_ARGUMENT naming the field) and enqueues. */
  generate(request) {
    return new Generation(this, this.#live(), requestParams(request));
  }

  /** True when the request was cancelled now; false when it had already finished (or the engine closed). */
  cancel(requestId) {
    if (typeof requestId !== 'bigint') throw new TypeError(`requestId: must be a bigint, got ${typeof requestId}`);
    if (this.#closing !== null) return false; // close() cancels every request itself
    return this.#native.cancel(requestId);
  }

  stats() {
    return this.#live().stats();
  }

  /** Logits (times logit_scale) for the last position, or every position. Runs off the JS thread. */
  async logits(tokens, options = {}) {
    const opts = object(options, 'options');
    const ids = tokenArray(tokens, 'tokens');
    return this.#live().logits(ids, boolean(opts.allPositions, 'options.allPositions', false));
  }

  /** Cancels everything and frees the engine (off the JS thread). Idempotent. */
  close() {
    this.#closing ??= this.#native.close();
    return this.#closing;
  }

  #live() {
    if (this.#closing !== null) throw new EngineError('engine is closed', 'CANCELLED');
    return this.#native;
  }
}
