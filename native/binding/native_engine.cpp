// NativeEngine methods. Sync methods (info, stats, generate, cancel) only take the C API's
// short locks; logits() and close() run on the libuv pool so the event loop never waits.
#include "native_engine.h"

#include <cstring>
#include <new>
#include <vector>

#include "addon.h"
#include "raw.h"

namespace tandem_binding {

namespace {

const char* dtype_name(tandem_dtype dtype) {
  switch (dtype) {
    case TANDEM_DTYPE_F32: return "f32";
    case TANDEM_DTYPE_BF16: return "bf16";
    case TANDEM_DTYPE_F16: return "f16";
    case TANDEM_DTYPE_UNSPECIFIED: break;
  }
  return "f32";
}

// Runs tandem_engine_logits off the JS thread; resolves with one Float32Array per position.
class LogitsWorker : public Napi::AsyncWorker {
 public:
  LogitsWorker(Napi::Env env, std::shared_ptr<EngineState> state, tandem_engine* engine,
               std::vector<int32_t> tokens, bool all_positions, Napi::Object owner)
      : Napi::AsyncWorker(env, "tandem.logits"),
        deferred_(env),
        state_(std::move(state)),
        engine_(engine),
        tokens_(std::move(tokens)),
        all_positions_(all_positions),
        owner_(Napi::Persistent(owner)) {
    state_->enter();  // released in Execute, so close() waits for this call
  }

  napi_value promise() const { return deferred_.promise(); }

  void Execute() override {
    size_t rows = all_positions_ ? tokens_.size() : 1;
    try {
      out_.resize(rows * static_cast<size_t>(state_->vocab_size));
      status_ = tandem_engine_logits(engine_, tokens_.data(), static_cast<uint32_t>(tokens_.size()),
                                     all_positions_ ? 1 : 0, out_.data(), out_.size());
      if (status_ != TANDEM_STATUS_OK) message_ = last_error_message();
    } catch (const std::bad_alloc&) {
      status_ = TANDEM_STATUS_RESOURCE_EXHAUSTED;
      message_ = "logits: cannot allocate " + std::to_string(rows) + " x " +
                 std::to_string(state_->vocab_size) + " floats";
    }
    state_->leave();
  }

  // One ArrayBuffer, one Float32Array view per position.
  void OnOK() override {
    napi_env env = Env();
    if (status_ != TANDEM_STATUS_OK) {
      deferred_.reject(env, engine_error_value(env, status_, message_));
      return;
    }
    const size_t vocab = state_->vocab_size;
    const size_t rows = vocab == 0 ? 0 : out_.size() / vocab;
    napi_value buffer, result;
    void* bytes = nullptr;
    if (napi_create_arraybuffer(env, out_.size() * sizeof(float), &bytes, &buffer) != napi_ok ||
        napi_create_array_with_length(env, rows, &result) != napi_ok) {
      return;  // the environment is going away
    }
    std::memcpy(bytes, out_.data(), out_.size() * sizeof(float));
    for (size_t r = 0; r < rows; ++r) {
      napi_value row;
      if (napi_create_typedarray(env, napi_float32_array, vocab, buffer, r * vocab * sizeof(float), &row) != napi_ok ||
          napi_set_element(env, result, static_cast<uint32_t>(r), row) != napi_ok) {
        return;
      }
    }
    deferred_.resolve(env, result);
  }

 private:
  raw::Deferred deferred_;
  std::shared_ptr<EngineState> state_;
  tandem_engine* engine_;
  std::vector<int32_t> tokens_;
  bool all_positions_;
  Napi::ObjectReference owner_;  // keeps the NativeEngine (and its engine) alive meanwhile
  std::vector<float> out_;
  tandem_status status_ = TANDEM_STATUS_OK;
  std::string message_;
};

// Frees the engine off the JS thread: waits for running workers, then tandem_engine_free
// (which cancels every request; their final events still reach JS through their TSFNs).
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, std::shared_ptr<EngineState> state, tandem_engine* engine)
      : Napi::AsyncWorker(env, "tandem.close"),
        deferred_(env),
        state_(std::move(state)),
        engine_(engine) {}

  napi_value promise() const { return deferred_.promise(); }

  void Execute() override {
    state_->wait_idle();
    tandem_engine_free(engine_);
  }

  void OnOK() override {
    napi_value undefined;
    if (napi_get_undefined(Env(), &undefined) == napi_ok) deferred_.resolve(Env(), undefined);
  }

 private:
  raw::Deferred deferred_;
  std::shared_ptr<EngineState> state_;
  tandem_engine* engine_;
};

Napi::Value resolved(Napi::Env env) {
  auto deferred = Napi::Promise::Deferred::New(env);
  deferred.Resolve(env.Undefined());
  return deferred.Promise();
}

}  // namespace

Napi::Function native_engine_class(Napi::Env env) { return NativeEngine::define(env); }

Napi::Function NativeEngine::define(Napi::Env env) {
  return DefineClass(env, "NativeEngine",
                     {
                         InstanceMethod<&NativeEngine::info>("info"),
                         InstanceMethod<&NativeEngine::stats>("stats"),
                         InstanceMethod<&NativeEngine::generate>("generate"),
                         InstanceMethod<&NativeEngine::cancel>("cancel"),
                         InstanceMethod<&NativeEngine::logits>("logits"),
                         InstanceMethod<&NativeEngine::close>("close"),
                     });
}

NativeEngine::NativeEngine(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<NativeEngine>(info), state_(std::make_shared<EngineState>()), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw_type_error(env, "NativeEngine is created by load(), not by new");
    return;
  }
  tandem_engine* engine = info[0].As<Napi::External<tandem_engine>>().Data();
  tandem_model_info model{};
  if (tandem_engine_get_info(engine, &model) != TANDEM_STATUS_OK) {
    std::string msg = last_error_message();
    tandem_engine_free(engine);
    throw_engine_error(env, TANDEM_STATUS_INTERNAL, msg);
    return;
  }
  state_->engine = engine;
  state_->vocab_size = model.vocab_size;
  hook_added_ = napi_add_env_cleanup_hook(env, &NativeEngine::on_env_cleanup, this) == napi_ok;
}

NativeEngine::~NativeEngine() {
  // Garbage-collected without close(): nothing can still use it (workers hold a reference to
  // this object), so freeing here only joins the step thread.
  detach_cleanup_hook();
  if (state_->engine != nullptr) {
    tandem_engine* engine = state_->engine;
    state_->engine = nullptr;
    state_->wait_idle();
    tandem_engine_free(engine);
  }
}

void NativeEngine::on_env_cleanup(void* arg) {
  auto* self = static_cast<NativeEngine*>(arg);
  self->hook_added_ = false;
  if (self->state_->engine != nullptr) {
    tandem_engine* engine = self->state_->engine;
    self->state_->engine = nullptr;
    self->state_->wait_idle();
    tandem_engine_free(engine);
  }
}

void NativeEngine::detach_cleanup_hook() {
  if (hook_added_) napi_remove_env_cleanup_hook(env_, &NativeEngine::on_env_cleanup, this);
  hook_added_ = false;
}

tandem_engine* NativeEngine::live(Napi::Env env) {
  if (state_->engine == nullptr) throw_engine_error(env, TANDEM_STATUS_CANCELLED, "engine is closed");
  return state_->engine;
}

Napi::Value NativeEngine::info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tandem_engine* engine = live(env);
  if (engine == nullptr) return env.Undefined();
  tandem_model_info m{};
  tandem_status status = tandem_engine_get_info(engine, &m);
  if (status != TANDEM_STATUS_OK) {
    throw_engine_error(env, status, last_error_message());
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* key, double v) { o.Set(key, Napi::Number::New(env, v)); };
  num("vocabSize", m.vocab_size);
  num("hiddenSize", m.hidden_size);
  num("numLayers", m.num_layers);
  num("numHeads", m.num_heads);
  num("numKvHeads", m.num_kv_heads);
  num("headDim", m.head_dim);
  num("intermediateSize", m.intermediate_size);
  num("slidingWindow", m.sliding_window);
  num("numSlidingLayers", m.num_sliding_layers);
  num("numFullLayers", m.num_full_layers);
  num("maxPositionEmbeddings", m.max_position_embeddings);
  num("bosTokenId", m.bos_token_id);
  num("eosTokenId", m.eos_token_id);
  num("padTokenId", m.pad_token_id);
  num("logitScale", m.logit_scale);
  o.Set("weightDtype", Napi::String::New(env, dtype_name(m.weight_dtype)));
  num("blockSize", m.block_size);
  num("maxBatchTokens", m.max_batch_tokens);
  num("maxRunning", m.max_running);
  num("maxSeqLen", m.max_seq_len);
  num("threads", m.threads);
  num("slidingBlocksTotal", m.sliding_blocks_total);
  num("fullBlocksTotal", m.full_blocks_total);
  num("weightBytes", static_cast<double>(m.weight_bytes));
  num("kvBytes", static_cast<double>(m.kv_bytes));
  num("tpRank", m.tp_rank);
  num("tpWorldSize", m.tp_world_size);
  o.Set("tpTransport", Napi::String::New(env, m.tp_transport == 2 ? "shm" : m.tp_transport == 1 ? "tcp" : "none"));
  return o;
}

Napi::Value NativeEngine::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tandem_engine* engine = live(env);
  if (engine == nullptr) return env.Undefined();
  tandem_engine_stats s{};
  tandem_status status = tandem_engine_get_stats(engine, &s);
  if (status != TANDEM_STATUS_OK) {
    throw_engine_error(env, status, last_error_message());
    return env.Undefined();
  }
  Napi::Object o = Napi::Object::New(env);
  auto num = [&](const char* key, double v) { o.Set(key, Napi::Number::New(env, v)); };
  num("waiting", s.waiting);
  num("running", s.running);
  num("slidingBlocksUsed", s.sliding_blocks_used);
  num("slidingBlocksTotal", s.sliding_blocks_total);
  num("fullBlocksUsed", s.full_blocks_used);
  num("fullBlocksTotal", s.full_blocks_total);
  num("steps", static_cast<double>(s.steps));
  num("preemptions", static_cast<double>(s.preemptions));
  num("promptTokensTotal", static_cast<double>(s.prompt_tokens_total));
  num("generatedTokensTotal", static_cast<double>(s.generated_tokens_total));
  num("collectiveOps", static_cast<double>(s.collective_ops));
  num("collectiveBytes", static_cast<double>(s.collective_bytes));
  num("collectiveSeconds", static_cast<double>(s.collective_nanos) * 1e-9);
  o.Set("tpGroupFailed", Napi::Boolean::New(env, s.tp_group_failed != 0));
  return o;
}

// generate(params, onEvent) -> bigint request id.
Napi::Value NativeEngine::generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tandem_engine* engine = live(env);
  if (engine == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
    throw_type_error(env, "generate(params, onEvent): params must be an object and onEvent a function");
    return env.Undefined();
  }
  return submit_generation(env, engine, info[0].As<Napi::Object>(), info[1].As<Napi::Function>());
}

// cancel(requestId: bigint) -> true when cancelled, false when it had already finished.
Napi::Value NativeEngine::cancel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tandem_engine* engine = live(env);
  if (engine == nullptr) return env.Undefined();
  if (info.Length() < 1 || !info[0].IsBigInt()) {
    throw_type_error(env, "requestId must be a bigint");
    return env.Undefined();
  }
  bool lossless = false;
  uint64_t id = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) return Napi::Boolean::New(env, false);  // no such id can exist
  tandem_status status = tandem_engine_cancel(engine, id);
  if (status == TANDEM_STATUS_OK) return Napi::Boolean::New(env, true);
  if (status == TANDEM_STATUS_NOT_FOUND) return Napi::Boolean::New(env, false);
  throw_engine_error(env, status, last_error_message());
  return env.Undefined();
}

// logits(tokens: Int32Array, allPositions: boolean) -> Promise<Float32Array[]>.
Napi::Value NativeEngine::logits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tandem_engine* engine = live(env);
  if (engine == nullptr) return env.Undefined();
  if (info.Length() < 2 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || !info[1].IsBoolean()) {
    throw_type_error(env, "logits(tokens, allPositions): tokens must be an Int32Array, allPositions a boolean");
    return env.Undefined();
  }
  Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
  std::vector<int32_t> copy(tokens.Data(), tokens.Data() + tokens.ElementLength());
  auto* worker = new LogitsWorker(env, state_, engine, std::move(copy), info[1].As<Napi::Boolean>().Value(),
                                  info.This().As<Napi::Object>());
  napi_value promise = worker->promise();
  worker->Queue();
  return Napi::Value(env, promise);
}

// close() -> Promise<void>; idempotent. Later calls on this object throw "engine is closed".
Napi::Value NativeEngine::close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_->engine == nullptr) return resolved(env);
  tandem_engine* engine = state_->engine;
  state_->engine = nullptr;
  detach_cleanup_hook();
  auto* worker = new CloseWorker(env, state_, engine);
  napi_value promise = worker->promise();
  worker->Queue();
  return Napi::Value(env, promise);
}

}  // namespace tandem_binding
