// NativeEngine: the JS object that owns one tandem_engine*. index.js wraps it in the public
// Engine class; this class only converts arguments and hands work to the C API.
#pragma once
// A worker being terminated cannot run JS; without this, node-addon-api turns the resulting
// failed napi_throw into a fatal error (defined in every binding TU, so inline code agrees).
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

#include <condition_variable>
#include <memory>
#include <mutex>

#include "tandem/engine.h"

namespace tandem_binding {

// Shared with the workers that run off the JS thread, so close() can wait for them before it
// frees the engine (tandem_engine_free must not race a tandem_engine_logits call).
struct EngineState {
  tandem_engine* engine = nullptr;  // null once close() has started; only the JS thread writes it
  uint32_t vocab_size = 0;
  std::mutex mu;
  std::condition_variable idle;
  int busy = 0;  // workers currently inside a C API call

  void enter() {
    std::lock_guard<std::mutex> lock(mu);
    ++busy;
  }
  void leave() {
    std::lock_guard<std::mutex> lock(mu);
    if (--busy == 0) idle.notify_all();
  }
  // Waits (off the JS thread, or at environment teardown) until no worker uses the engine.
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mu);
    idle.wait(lock, [this] { return busy == 0; });
  }
};

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::Function define(Napi::Env env);
  explicit NativeEngine(const Napi::CallbackInfo& info);
  ~NativeEngine() override;

 private:
  Napi::Value info(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value generate(const Napi::CallbackInfo& info);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value logits(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);

  // Throws "engine is closed" and returns null when close() has started.
  tandem_engine* live(Napi::Env env);
  // Frees the engine when the Node environment (main thread or worker) shuts down.
  static void on_env_cleanup(void* arg);
  void detach_cleanup_hook();

  std::shared_ptr<EngineState> state_;
  napi_env env_ = nullptr;
  bool hook_added_ = false;
};

// Builds the request for tandem_engine_submit and creates the event ThreadSafeFunction
// (generate.cpp). Returns the request id, or undefined with a pending exception.
Napi::Value submit_generation(Napi::Env env, tandem_engine* engine, Napi::Object params,
                              Napi::Function on_event);

}  // namespace tandem_binding
