// load(options, onProgress?) -> Promise<NativeEngine>. tandem_engine_create (config parsing,
// mmap, KV allocation, step thread start) runs in an AsyncWorker; progress reaches JS through a
// ThreadSafeFunction; every progress call is delivered before the promise settles.
#include <cmath>
#include <memory>
#include <string>

#include "addon.h"
#include "raw.h"

namespace tandem_binding {

namespace {

struct ProgressCopy {
  float fraction;
  std::string stage;
};

void on_progress(void* user, float fraction, const char* stage) {
  auto tsfn = static_cast<napi_threadsafe_function>(user);
  auto* copy = new ProgressCopy{fraction, stage != nullptr ? stage : ""};
  if (napi_call_threadsafe_function(tsfn, copy, napi_tsfn_nonblocking) != napi_ok) delete copy;
}

void deliver_progress(napi_env env, napi_value js_callback, void*, void* data) {
  std::unique_ptr<ProgressCopy> p(static_cast<ProgressCopy*>(data));
  if (env == nullptr || js_callback == nullptr) return;
  napi_value argv[2];
  if (napi_create_double(env, p->fraction, &argv[0]) != napi_ok ||
      napi_create_string_utf8(env, p->stage.data(), p->stage.size(), &argv[1]) != napi_ok) {
    return;
  }
  raw::call(env, js_callback, 2, argv);
}

// Outlives the worker: the promise settles only when the work is done AND every progress call
// has been delivered (the TSFN finalizer runs after its queue drains), so onProgress never fires
// after load() has resolved. Both events happen on the JS thread.
struct LoadResult {
  explicit LoadResult(napi_env env) : deferred(env) {}
  raw::Deferred deferred;
  bool progress_open = false;
  bool work_done = false;
  tandem_engine* engine = nullptr;
  tandem_status status = TANDEM_STATUS_OK;
  std::string message;
};

void settle(napi_env env, LoadResult* r) {
  std::unique_ptr<LoadResult> owned(r);
  if (r->status != TANDEM_STATUS_OK || r->engine == nullptr) {
    tandem_status status = r->status != TANDEM_STATUS_OK ? r->status : TANDEM_STATUS_INTERNAL;
    r->deferred.reject(env, engine_error_value(env, status, r->message.empty() ? "tandem_engine_create returned no engine" : r->message));
    return;
  }
  // The NativeEngine owns the engine from here on (its constructor frees it on failure).
  void* raw_data = nullptr;
  napi_value ctor, external, wrapper = nullptr;
  if (napi_get_instance_data(env, &raw_data) != napi_ok || raw_data == nullptr ||
      napi_get_reference_value(env, static_cast<AddonData*>(raw_data)->engine_ctor, &ctor) != napi_ok ||
      napi_create_external(env, r->engine, nullptr, nullptr, &external) != napi_ok) {
    tandem_engine_free(r->engine);  // the environment is going away: nobody will use it
    return;
  }
  if (napi_new_instance(env, ctor, 1, &external, &wrapper) != napi_ok) {
    napi_value error = nullptr;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &error);
    r->deferred.reject(env, error);
    return;
  }
  r->deferred.resolve(env, wrapper);
}

void on_progress_closed(napi_env env, void* data, void* /*hint*/) {
  auto* r = static_cast<LoadResult*>(data);
  r->progress_open = false;
  if (r->work_done) settle(env, r);
}

// The option strings a worker owns while the engine reads them on the worker thread.
struct TpStrings {
  std::string leader_addr, transport;
  void apply(tandem_engine_options* o) const {
    o->leader_addr = leader_addr.empty() ? nullptr : leader_addr.c_str();
    o->tp_transport = transport.empty() ? nullptr : transport.c_str();
  }
};

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, LoadResult* result, std::string model_dir, TpStrings tp, tandem_engine_options options,
             napi_threadsafe_function progress)
      : Napi::AsyncWorker(env, "tandem.load"),
        result_(result),
        model_dir_(std::move(model_dir)),
        tp_(std::move(tp)),
        options_(options),
        progress_(progress) {
    options_.model_dir = model_dir_.c_str();
    tp_.apply(&options_);
  }

  void Execute() override {
    status_ = tandem_engine_create(&options_, progress_ != nullptr ? on_progress : nullptr, progress_, &engine_);
    if (status_ != TANDEM_STATUS_OK) message_ = last_error_message();  // this thread's error
    if (progress_ != nullptr) napi_release_threadsafe_function(progress_, napi_tsfn_release);
  }

  void OnOK() override {
    result_->work_done = true;
    result_->engine = engine_;
    result_->status = status_;
    result_->message = std::move(message_);
    if (!result_->progress_open) settle(Env(), result_);
  }

 private:
  LoadResult* result_;
  std::string model_dir_;
  TpStrings tp_;
  tandem_engine_options options_;
  napi_threadsafe_function progress_;
  tandem_engine* engine_ = nullptr;
  tandem_status status_ = TANDEM_STATUS_OK;
  std::string message_;
};

// kvMemoryBytes: a number (up to 2^53) or a bigint.
bool get_u64(Napi::Object obj, const char* field, uint64_t* out) {
  Napi::Env env = obj.Env();
  Napi::Value v = obj.Get(field);
  if (env.IsExceptionPending()) return false;
  if (v.IsBigInt()) {
    bool lossless = false;
    *out = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (lossless) return true;
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d >= 0 && d <= 9007199254740992.0 && std::floor(d) == d) {
      *out = static_cast<uint64_t>(d);
      return true;
    }
  } else {
    throw_type_error(env, std::string(field) + " must be a number or bigint");
    return false;
  }
  throw_engine_error(env, TANDEM_STATUS_INVALID_ARGUMENT, std::string(field) + " must be a non-negative integer");
  return false;
}

// Blocks in tandem_engine_run_follower until rank 0 shuts the group down or it fails.
class FollowerWorker : public Napi::AsyncWorker {
 public:
  FollowerWorker(Napi::Env env, std::string model_dir, TpStrings tp, tandem_engine_options options)
      : Napi::AsyncWorker(env, "tandem.follower"),
        deferred_(env),
        model_dir_(std::move(model_dir)),
        tp_(std::move(tp)),
        options_(options) {
    options_.model_dir = model_dir_.c_str();
    tp_.apply(&options_);
  }
  napi_value promise() const { return deferred_.promise(); }

  void Execute() override {
    status_ = tandem_engine_run_follower(&options_, nullptr, nullptr);
    if (status_ != TANDEM_STATUS_OK) message_ = last_error_message();
  }

  void OnOK() override {
    napi_env env = Env();
    if (status_ != TANDEM_STATUS_OK) {
      deferred_.reject(env, engine_error_value(env, status_, message_));
      return;
    }
    napi_value undefined;
    if (napi_get_undefined(env, &undefined) == napi_ok) deferred_.resolve(env, undefined);
  }

 private:
  raw::Deferred deferred_;
  std::string model_dir_;
  TpStrings tp_;
  tandem_engine_options options_;
  tandem_status status_ = TANDEM_STATUS_OK;
  std::string message_;
};

// An optional string field ("" when absent); a TypeError naming it for any other type.
bool get_opt_string(Napi::Object o, const char* field, std::string* out) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(field);
  if (env.IsExceptionPending()) return false;
  if (v.IsString()) *out = v.As<Napi::String>().Utf8Value();
  else if (!v.IsUndefined() && !v.IsNull()) {
    throw_type_error(env, std::string(field) + " must be a string");
    return false;
  }
  return true;
}

// The tensor-parallel fields: rank, worldSize, leaderAddr, rendezvousTimeoutMs, collectiveTimeoutMs,
// tpTransport.
bool get_tp_options(Napi::Object o, tandem_engine_options* opts, TpStrings* tp) {
  return get_u32(o, "rank", &opts->rank) && get_u32(o, "worldSize", &opts->world_size) &&
         get_u32(o, "rendezvousTimeoutMs", &opts->rendezvous_timeout_ms) &&
         get_u32(o, "collectiveTimeoutMs", &opts->collective_timeout_ms) &&
         get_opt_string(o, "leaderAddr", &tp->leader_addr) && get_opt_string(o, "tpTransport", &tp->transport);
}

// The first argument of load/runFollower: an options object with a string modelDir. Throws a
// TypeError naming the problem and returns false otherwise.
bool options_and_model_dir(const Napi::CallbackInfo& info, const char* fn, Napi::Object* out, std::string* model_dir) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw_type_error(env, std::string(fn) + "(options): options must be an object");
    return false;
  }
  *out = info[0].As<Napi::Object>();
  Napi::Value dir = out->Get("modelDir");
  if (env.IsExceptionPending()) return false;
  if (!dir.IsString()) {
    throw_type_error(env, "modelDir must be a string");
    return false;
  }
  *model_dir = dir.As<Napi::String>().Utf8Value();
  return true;
}

}  // namespace

Napi::Value run_follower(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o;
  std::string model_dir;
  if (!options_and_model_dir(info, "runFollower", &o, &model_dir)) return env.Undefined();
  tandem_engine_options opts{};
  TpStrings tp;
  if (!get_u32(o, "threads", &opts.threads) || !get_tp_options(o, &opts, &tp)) return env.Undefined();
  auto* worker = new FollowerWorker(env, model_dir, std::move(tp), opts);
  napi_value promise = worker->promise();
  worker->Queue();
  return Napi::Value(env, promise);
}

// options: { modelDir, threads, blockSize, kvMemoryBytes, maxBatchTokens, maxRunning, maxSeqLen,
// rank, worldSize, leaderAddr, rendezvousTimeoutMs, collectiveTimeoutMs, tpTransport }, all present
// (index.js fills the defaults with 0 = "engine default").
Napi::Value load_engine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o;
  std::string model_dir;
  if (!options_and_model_dir(info, "load", &o, &model_dir)) return env.Undefined();
  tandem_engine_options opts{};
  bool ok = get_u32(o, "threads", &opts.threads) && get_u32(o, "blockSize", &opts.block_size) &&
            get_u64(o, "kvMemoryBytes", &opts.kv_memory_bytes) &&
            get_u32(o, "maxBatchTokens", &opts.max_batch_tokens) && get_u32(o, "maxRunning", &opts.max_running) &&
            get_u32(o, "maxSeqLen", &opts.max_seq_len);
  TpStrings tp;
  if (!ok || !get_tp_options(o, &opts, &tp)) return env.Undefined();

  if (info.Length() >= 2 && !info[1].IsFunction() && !info[1].IsUndefined() && !info[1].IsNull()) {
    throw_type_error(env, "onProgress must be a function");
    return env.Undefined();
  }
  auto* result = new LoadResult(env);
  napi_value promise = result->deferred.promise();
  napi_threadsafe_function progress = nullptr;
  if (info.Length() >= 2 && info[1].IsFunction()) {
    napi_value name = Napi::String::New(env, "tandem.load.progress");
    if (napi_create_threadsafe_function(env, info[1], nullptr, name, 0, 1, result, on_progress_closed, nullptr,
                                        deliver_progress, &progress) != napi_ok) {
      delete result;
      throw_engine_error(env, TANDEM_STATUS_INTERNAL, "cannot create the progress channel for load()");
      return env.Undefined();
    }
    result->progress_open = true;
  }
  auto* worker = new LoadWorker(env, result, model_dir, std::move(tp), opts, progress);
  worker->Queue();
  return Napi::Value(env, promise);
}

}  // namespace tandem_binding
