// Module entry: exports init(EngineError), load(options, onProgress), activeIsa() and NativeEngine.
#include "addon.h"

#include <cmath>

#include "ops/ops.h"

namespace tandem_binding {

AddonData* addon_data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

const char* status_name(tandem_status status) {
  switch (status) {
    case TANDEM_STATUS_OK: return "OK";
    case TANDEM_STATUS_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case TANDEM_STATUS_NOT_FOUND: return "NOT_FOUND";
    case TANDEM_STATUS_IO_ERROR: return "IO_ERROR";
    case TANDEM_STATUS_MODEL_FORMAT: return "MODEL_FORMAT";
    case TANDEM_STATUS_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case TANDEM_STATUS_CANCELLED: return "CANCELLED";
    case TANDEM_STATUS_INTERNAL: return "INTERNAL";
    case TANDEM_STATUS_UNSUPPORTED: return "UNSUPPORTED";
    case TANDEM_STATUS_UNAVAILABLE: return "UNAVAILABLE";
  }
  return "INTERNAL";
}

std::string last_error_message() {
  size_t len = tandem_last_error(nullptr, 0);  // the full length, without copying
  std::string msg(len + 1, '\0');
  msg.resize(tandem_last_error(msg.data(), msg.size()));
  return msg.empty() ? std::string("engine call failed without a message") : msg;
}

napi_value engine_error_value(napi_env env, tandem_status status, const std::string& message) {
  napi_value msg, code, err = nullptr;
  if (napi_create_string_utf8(env, message.data(), message.size(), &msg) != napi_ok ||
      napi_create_string_utf8(env, status_name(status), NAPI_AUTO_LENGTH, &code) != napi_ok) {
    return nullptr;
  }
  void* raw_data = nullptr;
  napi_get_instance_data(env, &raw_data);
  auto* data = static_cast<AddonData*>(raw_data);
  napi_value ctor;
  if (data != nullptr && !data->engine_error.IsEmpty() &&
      napi_get_reference_value(env, data->engine_error, &ctor) == napi_ok && ctor != nullptr) {
    napi_value argv[2] = {msg, code};
    if (napi_new_instance(env, ctor, 2, argv, &err) == napi_ok) return err;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
  }
  if (napi_create_error(env, code, msg, &err) != napi_ok) return nullptr;
  napi_set_named_property(env, err, "code", code);
  return err;
}

Napi::Value make_engine_error(Napi::Env env, tandem_status status, const std::string& message) {
  napi_value err = engine_error_value(env, status, message);
  return err != nullptr ? Napi::Value(env, err) : env.Undefined();
}

void throw_engine_error(Napi::Env env, tandem_status status, const std::string& message) {
  Napi::Value err = make_engine_error(env, status, message);
  napi_throw(env, err);
}

void throw_type_error(Napi::Env env, const std::string& message) {
  Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
}

static bool get_number(Napi::Object obj, const char* field, double* out) {
  Napi::Value v = obj.Get(field);
  if (obj.Env().IsExceptionPending()) return false;
  if (!v.IsNumber()) {
    throw_type_error(obj.Env(), std::string(field) + " must be a number");
    return false;
  }
  *out = v.As<Napi::Number>().DoubleValue();
  return true;
}

// index.js has already range-checked these; the checks here only stop a silent wrap-around
// if the native class is ever called directly.
bool get_u32(Napi::Object obj, const char* field, uint32_t* out) {
  double d;
  if (!get_number(obj, field, &d)) return false;
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d) {
    throw_engine_error(obj.Env(), TANDEM_STATUS_INVALID_ARGUMENT,
                       std::string(field) + " must be an integer in [0, 4294967295]");
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

bool get_i32(Napi::Object obj, const char* field, int32_t* out) {
  double d;
  if (!get_number(obj, field, &d)) return false;
  if (!(d >= -2147483648.0 && d <= 2147483647.0) || std::floor(d) != d) {
    throw_engine_error(obj.Env(), TANDEM_STATUS_INVALID_ARGUMENT,
                       std::string(field) + " must be a 32-bit integer");
    return false;
  }
  *out = static_cast<int32_t>(d);
  return true;
}

bool get_f32(Napi::Object obj, const char* field, float* out) {
  double d;
  if (!get_number(obj, field, &d)) return false;
  *out = static_cast<float>(d);  // NaN / out-of-range stay invalid and the C API names them
  return true;
}

bool get_bool(Napi::Object obj, const char* field, uint8_t* out) {
  Napi::Value v = obj.Get(field);
  if (obj.Env().IsExceptionPending()) return false;
  if (!v.IsBoolean()) {
    throw_type_error(obj.Env(), std::string(field) + " must be a boolean");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value() ? 1 : 0;
  return true;
}

// init(EngineError): index.js hands over its error class so native errors are real EngineErrors.
static Napi::Value init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    throw_type_error(env, "init(EngineError): EngineError must be a class");
    return env.Undefined();
  }
  addon_data(env)->engine_error = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

static Napi::Value active_isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tandem::ops::active_isa());
}

static Napi::Object module_init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData(data);  // deleted by node-addon-api when the environment goes away
  Napi::Function ctor = native_engine_class(env);
  data->engine_ctor = Napi::Persistent(ctor);
  exports.Set("NativeEngine", ctor);
  exports.Set("init", Napi::Function::New(env, init, "init"));
  exports.Set("load", Napi::Function::New(env, load_engine, "load"));
  exports.Set("runFollower", Napi::Function::New(env, run_follower, "runFollower"));
  exports.Set("activeIsa", Napi::Function::New(env, active_isa, "activeIsa"));
  exports.Set("apiVersion", Napi::Number::New(env, TANDEM_API_VERSION));
  return exports;
}

}  // namespace tandem_binding

// NODE_API_MODULE pastes its argument into a symbol name, so it needs an unqualified function.
static Napi::Object tandem_module_init(Napi::Env env, Napi::Object exports) {
  return tandem_binding::module_init(env, exports);
}

NODE_API_MODULE(tandem_engine, tandem_module_init)
