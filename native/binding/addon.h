// Shared pieces of the N-API addon (built with NAPI_DISABLE_CPP_EXCEPTIONS: every failure is a
// pending JS exception or a rejected promise, never a C++ throw).
// The addon holds no engine logic: it converts JS <-> C API structs and moves work off the JS thread.
#pragma once
// A worker being terminated cannot run JS; without this, node-addon-api turns the resulting
// failed napi_throw into a fatal error (defined in every binding TU, so inline code agrees).
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#include <napi.h>

#include <string>

#include "tandem/engine.h"

namespace tandem_binding {

// Per-environment state (one per Node worker), stored with napi_set_instance_data.
struct AddonData {
  Napi::FunctionReference engine_error;  // index.js's EngineError class, set by init()
  Napi::FunctionReference engine_ctor;   // the NativeEngine class
};

AddonData* addon_data(Napi::Env env);

// "INVALID_ARGUMENT" etc.: the names EngineError.code uses.
const char* status_name(tandem_status status);

// tandem_last_error() of the calling thread. Must run on the thread that made the failed call.
std::string last_error_message();

// A new EngineError(message, code) (an Error with .code before init()). The raw form returns
// nullptr when the environment refuses JS work (see raw.h); make_engine_error is for sync calls.
napi_value engine_error_value(napi_env env, tandem_status status, const std::string& message);
Napi::Value make_engine_error(Napi::Env env, tandem_status status, const std::string& message);

// Throws EngineError as a pending exception; callers return env.Undefined() right after.
void throw_engine_error(Napi::Env env, tandem_status status, const std::string& message);
void throw_type_error(Napi::Env env, const std::string& message);

// Reads uint32 / int32 / double fields of an already validated plain object; on a wrong type sets
// a TypeError naming the field and returns false.
bool get_u32(Napi::Object obj, const char* field, uint32_t* out);
bool get_i32(Napi::Object obj, const char* field, int32_t* out);
bool get_f32(Napi::Object obj, const char* field, float* out);
bool get_bool(Napi::Object obj, const char* field, uint8_t* out);

Napi::Function native_engine_class(Napi::Env env);
Napi::Value load_engine(const Napi::CallbackInfo& info);
// runFollower(options) -> Promise<void>: tandem_engine_run_follower off the JS thread.
Napi::Value run_follower(const Napi::CallbackInfo& info);

}  // namespace tandem_binding
