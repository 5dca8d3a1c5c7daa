// The C API: the one place where C++ exceptions become tandem_status codes plus a thread-local
// message (tandem_last_error). Nothing else lives here.
#include <cstring>
#include <new>
#include <string>

#include "runtime/engine.h"
#include "runtime/tp.h"
#include "tandem/engine.h"
#include "util/status.h"

struct tandem_engine {
  std::unique_ptr<tandem::Engine> impl;
};

namespace {

thread_local std::string g_last_error;

tandem_status fail(tandem_status s, const std::string& msg) {
  g_last_error = msg;
  return s;
}

template <class F>
tandem_status guarded(F&& f) {
  try {
    f();
    return TANDEM_STATUS_OK;
  } catch (const tandem::Error& e) {
    return fail(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return fail(TANDEM_STATUS_RESOURCE_EXHAUSTED, "out of memory");
  } catch (const std::exception& e) {
    return fail(TANDEM_STATUS_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(TANDEM_STATUS_INTERNAL, "internal error: unknown exception");
  }
}

}  // namespace

extern "C" {

size_t tandem_last_error(char* buf, size_t buf_len) {
  if (!buf || buf_len == 0) return g_last_error.size();
  const size_t n = std::min(buf_len - 1, g_last_error.size());
  std::memcpy(buf, g_last_error.data(), n);
  buf[n] = '\0';
  return n;
}

tandem_status tandem_engine_create(const tandem_engine_options* options, tandem_progress_fn progress,
                                   void* progress_user, tandem_engine** out_engine) {
  if (!options) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "options: must not be NULL");
  if (!out_engine) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "out_engine: must not be NULL");
  *out_engine = nullptr;
  return guarded([&] {
    auto e = std::make_unique<tandem_engine>();
    e->impl = tandem::Engine::create(*options, progress, progress_user);
    *out_engine = e.release();
  });
}

void tandem_engine_free(tandem_engine* engine) {
  if (!engine) return;
  if (engine->impl && engine->impl->on_step_thread()) {
    // Joining the step thread from itself would deadlock; leak instead of crashing.
    fail(TANDEM_STATUS_INVALID_ARGUMENT, "tandem_engine_free: must not be called from an event callback");
    return;
  }
  guarded([&] { delete engine; });
}

tandem_status tandem_engine_get_info(const tandem_engine* engine, tandem_model_info* out_info) {
  if (!engine || !out_info) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "engine and out_info: must not be NULL");
  return guarded([&] { *out_info = engine->impl->info(); });
}

tandem_status tandem_engine_get_stats(const tandem_engine* engine, tandem_engine_stats* out_stats) {
  if (!engine || !out_stats) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "engine and out_stats: must not be NULL");
  return guarded([&] { *out_stats = engine->impl->stats(); });
}

tandem_status tandem_engine_submit(tandem_engine* engine, const tandem_request_params* params,
                                   tandem_event_fn callback, void* user, uint64_t* out_request_id) {
  if (!engine || !params) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "engine and params: must not be NULL");
  return guarded([&] {
    const uint64_t id = engine->impl->submit(*params, callback, user);
    if (out_request_id) *out_request_id = id;
  });
}

tandem_status tandem_engine_cancel(tandem_engine* engine, uint64_t request_id) {
  if (!engine) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "engine: must not be NULL");
  return guarded([&] { engine->impl->cancel(request_id); });
}

tandem_status tandem_engine_logits(tandem_engine* engine, const int32_t* tokens, uint32_t n_tokens,
                                   uint8_t all_positions, float* out, size_t out_len) {
  if (!engine) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "engine: must not be NULL");
  return guarded([&] { engine->impl->logits(tokens, n_tokens, all_positions != 0, out, out_len); });
}

tandem_status tandem_engine_run_follower(const tandem_engine_options* options, tandem_progress_fn progress,
                                         void* progress_user) {
  if (!options) return fail(TANDEM_STATUS_INVALID_ARGUMENT, "options: must not be NULL");
  return guarded([&] { tandem::run_follower(*options, progress, progress_user); });
}

}  // extern "C"
