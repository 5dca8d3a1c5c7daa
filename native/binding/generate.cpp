// generate(): JS params -> tandem_request_params, and token events back through a
// ThreadSafeFunction. The C callback runs on the engine's step thread, so it copies the event
// (its pointers die when it returns), queues it without blocking, and releases the TSFN after the
// final event; the JS side never waits for anything.
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "addon.h"
#include "native_engine.h"
#include "raw.h"

namespace tandem_binding {

namespace {

struct EventCopy {
  uint64_t request_id = 0;
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
  uint32_t n_top = 0;
  tandem_finish_reason finish = TANDEM_FINISH_NONE;
  uint32_t prompt_tokens = 0, completion_tokens = 0;
  std::string error;
};

const char* finish_name(tandem_finish_reason finish) {
  switch (finish) {
    case TANDEM_FINISH_LENGTH: return "length";
    case TANDEM_FINISH_STOP: return "stop";
    case TANDEM_FINISH_CANCELLED: return "cancelled";
    case TANDEM_FINISH_ERROR: return "error";
    case TANDEM_FINISH_NONE: break;
  }
  return nullptr;
}

// Step thread. user is the request's napi_threadsafe_function.
void on_event(void* user, const tandem_token_event* ev) {
  auto tsfn = static_cast<napi_threadsafe_function>(user);
  auto* copy = new EventCopy();
  copy->request_id = ev->request_id;
  if (ev->n_tokens > 0) {
    copy->tokens.assign(ev->tokens, ev->tokens + ev->n_tokens);
    if (ev->logprobs != nullptr) copy->logprobs.assign(ev->logprobs, ev->logprobs + ev->n_tokens);
    else copy->logprobs.assign(ev->n_tokens, std::numeric_limits<float>::quiet_NaN());
    size_t n_top = static_cast<size_t>(ev->n_tokens) * ev->n_top;
    if (n_top > 0 && ev->top_ids != nullptr && ev->top_logprobs != nullptr) {
      copy->n_top = ev->n_top;
      copy->top_ids.assign(ev->top_ids, ev->top_ids + n_top);
      copy->top_logprobs.assign(ev->top_logprobs, ev->top_logprobs + n_top);
    }
  }
  copy->finish = ev->finish;
  copy->prompt_tokens = ev->prompt_tokens;
  copy->completion_tokens = ev->completion_tokens;
  if (ev->error != nullptr) copy->error = ev->error;
  bool final = ev->finish != TANDEM_FINISH_NONE;

  // Unbounded queue: the blocking mode is never used, so the step thread cannot stall on JS.
  napi_status st = napi_call_threadsafe_function(tsfn, copy, napi_tsfn_nonblocking);
  if (st != napi_ok) delete copy;
  // napi_closing means the environment is shutting down and has already dropped our thread;
  // the TSFN must not be touched again then.
  if (final && st != napi_closing) napi_release_threadsafe_function(tsfn, napi_tsfn_release);
}

// Per generated token, its best alternatives: [{ ids, logprobs }, ...]; nullptr on failure.
napi_value top_alternatives(napi_env env, const EventCopy& ev) {
  size_t n = ev.n_top > 0 ? ev.tokens.size() : 0;
  napi_value top;
  if (napi_create_array_with_length(env, n, &top) != napi_ok) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    raw::Object alt(env);
    alt.set("ids", raw::number_array(env, ev.top_ids.data() + i * ev.n_top, ev.n_top));
    alt.set("logprobs", raw::number_array(env, ev.top_logprobs.data() + i * ev.n_top, ev.n_top));
    if (!alt.ok() || napi_set_element(env, top, static_cast<uint32_t>(i), alt.value()) != napi_ok) return nullptr;
  }
  return top;
}

// JS thread. env is null when the TSFN is torn down with events still queued; any failed call
// means the environment is going away, and the event is dropped.
void deliver_event(napi_env env, napi_value js_callback, void* /*context*/, void* data) {
  std::unique_ptr<EventCopy> ev(static_cast<EventCopy*>(data));
  if (env == nullptr || js_callback == nullptr) return;
  raw::Object o(env);
  napi_value id;
  o.set("requestId", napi_create_bigint_uint64(env, ev->request_id, &id) == napi_ok ? id : nullptr);
  o.set("tokens", raw::number_array(env, ev->tokens.data(), ev->tokens.size()));
  o.set("logprobs", raw::number_array(env, ev->logprobs.data(), ev->logprobs.size()));
  o.set("top", top_alternatives(env, *ev));
  if (const char* finish = finish_name(ev->finish)) o.string("finish", finish);
  if (ev->finish == TANDEM_FINISH_ERROR) o.string("error", ev->error.empty() ? "engine error" : ev->error);
  o.number("promptTokens", ev->prompt_tokens);
  o.number("completionTokens", ev->completion_tokens);
  if (!o.ok()) return;
  napi_value argv[1] = {o.value()};
  raw::call(env, js_callback, 1, argv);  // index.js's callback only queues the event
}

// Int32Array field (prompt, stopTokenIds) -> vector; TypeError naming the field otherwise.
bool get_int32_array(Napi::Object params, const char* field, std::vector<int32_t>* out) {
  Napi::Value v = params.Get(field);
  if (params.Env().IsExceptionPending()) return false;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_type_error(params.Env(), std::string(field) + " must be an Int32Array");
    return false;
  }
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  out->assign(a.Data(), a.Data() + a.ElementLength());
  return true;
}

bool get_seed(Napi::Object params, tandem_sampling_params* s) {
  Napi::Env env = params.Env();
  Napi::Value v = params.Get("seed");
  if (env.IsExceptionPending()) return false;
  if (v.IsUndefined()) {
    s->has_seed = 0;
    return true;
  }
  if (!v.IsBigInt()) {
    throw_type_error(env, "sampling.seed must be a bigint here (index.js converts numbers)");
    return false;
  }
  bool lossless = false;
  s->seed = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) {
    throw_engine_error(env, TANDEM_STATUS_INVALID_ARGUMENT, "sampling.seed must be in [0, 2^64)");
    return false;
  }
  s->has_seed = 1;
  return true;
}

}  // namespace

Napi::Value submit_generation(Napi::Env env, tandem_engine* engine, Napi::Object params,
                              Napi::Function on_event_js) {
  std::vector<int32_t> prompt, stops;
  tandem_request_params p{};
  tandem_sampling_params& s = p.sampling;
  bool ok = get_int32_array(params, "prompt", &prompt) && get_int32_array(params, "stopTokenIds", &stops) &&
            get_u32(params, "maxTokens", &p.max_tokens) && get_f32(params, "temperature", &s.temperature) &&
            get_i32(params, "topK", &s.top_k) && get_f32(params, "topP", &s.top_p) &&
            get_f32(params, "minP", &s.min_p) && get_f32(params, "repetitionPenalty", &s.repetition_penalty) &&
            get_f32(params, "frequencyPenalty", &s.frequency_penalty) &&
            get_f32(params, "presencePenalty", &s.presence_penalty) && get_seed(params, &s) &&
            get_u32(params, "topLogprobs", &s.top_logprobs) && get_bool(params, "ignoreEos", &p.ignore_eos) &&
            get_i32(params, "priority", &p.priority);
  if (!ok) return env.Undefined();
  p.prompt = prompt.data();
  p.prompt_len = static_cast<uint32_t>(prompt.size());
  p.stop_token_ids = stops.data();
  p.num_stop_token_ids = static_cast<uint32_t>(stops.size());

  napi_threadsafe_function tsfn = nullptr;
  napi_value resource_name = Napi::String::New(env, "tandem.generate");
  napi_status st = napi_create_threadsafe_function(env, on_event_js, nullptr, resource_name,
                                                   /*max_queue_size=*/0, /*initial_thread_count=*/1,
                                                   nullptr, nullptr, nullptr, deliver_event, &tsfn);
  if (st != napi_ok) {
    throw_engine_error(env, TANDEM_STATUS_INTERNAL, "cannot create the event channel for generate()");
    return env.Undefined();
  }
  // The referenced TSFN keeps Node alive until the final event has been delivered.
  uint64_t request_id = 0;
  tandem_status status = tandem_engine_submit(engine, &p, on_event, tsfn, &request_id);
  if (status != TANDEM_STATUS_OK) {
    std::string msg = last_error_message();  // same thread as the failed call
    napi_release_threadsafe_function(tsfn, napi_tsfn_abort);
    throw_engine_error(env, status, msg);
    return env.Undefined();
  }
  return Napi::BigInt::New(env, request_id);
}

}  // namespace tandem_binding
