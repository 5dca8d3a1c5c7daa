// Raw N-API builders for code that runs when work finishes (AsyncWorker::OnOK, ThreadSafeFunction
// deliveries). A worker thread that is being terminated refuses JS work at any moment (the flag
// is set from another thread); node-addon-api would turn the refusal into a fatal error, so these
// paths use the C API and simply stop when a call fails.
#pragma once
#include <node_api.h>

#include <cstddef>
#include <string>

namespace tandem_binding::raw {

// Accumulates property writes on one object; ok() turns false at the first failed call.
class Object {
 public:
  explicit Object(napi_env env) : env_(env) { ok_ = napi_create_object(env, &obj_) == napi_ok; }
  void number(const char* key, double v) {
    napi_value x;
    set(key, ok_ && napi_create_double(env_, v, &x) == napi_ok ? x : nullptr);
  }
  void string(const char* key, const std::string& s) {
    napi_value x;
    set(key, ok_ && napi_create_string_utf8(env_, s.data(), s.size(), &x) == napi_ok ? x : nullptr);
  }
  void set(const char* key, napi_value v) {
    ok_ = ok_ && v != nullptr && napi_set_named_property(env_, obj_, key, v) == napi_ok;
  }
  bool ok() const { return ok_; }
  napi_value value() const { return ok_ ? obj_ : nullptr; }

 private:
  napi_env env_;
  napi_value obj_ = nullptr;
  bool ok_ = false;
};

// [data[0], data[stride], ...] (n elements) as a JS array of numbers; nullptr on failure.
template <class T>
napi_value number_array(napi_env env, const T* data, size_t n, size_t stride = 1) {
  napi_value arr;
  if (napi_create_array_with_length(env, n, &arr) != napi_ok) return nullptr;
  for (size_t i = 0; i < n; ++i) {
    napi_value x;
    if (napi_create_double(env, static_cast<double>(data[i * stride]), &x) != napi_ok) return nullptr;
    if (napi_set_element(env, arr, static_cast<uint32_t>(i), x) != napi_ok) return nullptr;
  }
  return arr;
}

// A promise settled once from a completion callback; a failed settle (terminating env) is dropped.
class Deferred {
 public:
  explicit Deferred(napi_env env) { napi_create_promise(env, &deferred_, &promise_); }
  napi_value promise() const { return promise_; }
  void resolve(napi_env env, napi_value v) { settle(env, v, true); }
  void reject(napi_env env, napi_value v) { settle(env, v, false); }

 private:
  void settle(napi_env env, napi_value v, bool ok) {
    if (deferred_ == nullptr || v == nullptr) return;
    if (ok) napi_resolve_deferred(env, deferred_, v);
    else napi_reject_deferred(env, deferred_, v);
    deferred_ = nullptr;
  }
  napi_deferred deferred_ = nullptr;
  napi_value promise_ = nullptr;
};

// Calls fn(undefined, ...argv); a throw stays pending and surfaces as an uncaught exception.
inline void call(napi_env env, napi_value fn, size_t argc, const napi_value* argv) {
  napi_value undefined;
  if (napi_get_undefined(env, &undefined) != napi_ok) return;
  napi_call_function(env, undefined, fn, argc, argv, nullptr);
}

}  // namespace tandem_binding::raw
