// The engine behind the C API: owns the model, the KV pools, the scheduler and one step thread.
//
// Threads: public methods may be called from any thread. They only touch the inbox (under mu_)
// and wait where documented. Everything else (scheduler, KV manager, samplers, the request
// table) belongs to the step thread, which drains the inbox, plans a step, runs the forward
// pass, samples and invokes callbacks; it sleeps on a condition variable when there is no work.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "dist/comm.h"
#include "model/cohere2.h"
#include "runtime/kv_manager.h"
#include "runtime/sampler.h"
#include "runtime/scheduler.h"
#include "runtime/vocab_parallel.h"
#include "tandem/engine.h"
#include "util/thread_pool.h"

namespace tandem {

class Engine {
 public:
  // Loads the model and starts the step thread. Throws tandem::Error.
  static std::unique_ptr<Engine> create(const tandem_engine_options& options, tandem_progress_fn progress,
                                        void* progress_user);
  // Cancels every request (each gets a CANCELLED event) and joins the step thread. Must not be
  // called from an event callback.
  ~Engine();

  tandem_model_info info() const { return info_; }
  // True on the step thread (inside an event callback), where blocking calls would deadlock.
  bool on_step_thread() const { return std::this_thread::get_id() == thread_.get_id(); }
  tandem_engine_stats stats() const;
  // Validates (every problem listed) and enqueues. Returns the request id.
  uint64_t submit(const tandem_request_params& params, tandem_event_fn callback, void* user);
  // Throws Error(NOT_FOUND) if the request already finished or never existed. The CANCELLED
  // event follows from the step thread before the next step starts; if the request finishes in
  // the step that is running now, its normal final event wins and no CANCELLED event is sent.
  void cancel(uint64_t id);
  // A prefill-only request through the normal scheduler; blocks until its logits are in `out`.
  void logits(const int32_t* tokens, uint32_t n_tokens, bool all_positions, float* out, size_t out_len);

 private:
  struct LogitsWaiter;
  struct Request;
  struct OwnedEvent;
  struct Submission;

  Engine() = default;
  void loop();
  void step(std::vector<OwnedEvent>& events);
  std::vector<SeqChunk> build_batch(const StepPlan& plan) const;
  // Samples from the whole row, or (tensor parallel) from the merged candidates when row is null.
  void emit_token(Request& r, const float* row, const RowCandidates* candidates, std::vector<OwnedEvent>& events);
  // Tensor parallelism: what rank 0 needs of each logits row this step (vocab_parallel.h).
  std::vector<RowNeed> row_needs(const StepPlan& plan, std::span<const SeqChunk> batch) const;
  void finish(uint64_t id, tandem_finish_reason reason, const std::string& error, std::vector<OwnedEvent>& events);
  void publish(std::vector<OwnedEvent>& events);
  // Tensor parallelism (rank 0): a heartbeat round when idle, and the end of the group.
  void heartbeat(std::vector<OwnedEvent>& events);
  void break_group(const std::string& reason, std::vector<OwnedEvent>& events);

  std::unique_ptr<Cohere2Model> model_;
  std::unique_ptr<dist::Communicator> comm_;  // null without tensor parallelism
  std::unique_ptr<ThreadPool> pool_;
  std::unique_ptr<KvManager> kv_;
  std::unique_ptr<Scheduler> sched_;
  std::unique_ptr<float, void (*)(void*)> kv_buf_{nullptr, nullptr};
  KvPoolView sliding_view_, full_view_;
  tandem_model_info info_{};
  int64_t vocab_ = 0, max_seq_len_ = 0;

  // Step thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Request>> requests_;
  std::vector<float> logits_, scratch_;
  MergedRows merged_;  // tensor parallelism: this step's rows on rank 0
  std::vector<std::shared_ptr<LogitsWaiter>> wake_;  // logits callers to wake in publish()
  uint64_t stats_steps_ = 0, stats_prompt_ = 0, stats_generated_ = 0;

  // Shared, under mu_.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Submission>> inbox_;
  std::vector<uint64_t> cancels_;
  std::unordered_set<uint64_t> live_;  // submitted generation requests without a final event yet
  bool stop_ = false;
  std::string group_error_;  // set once the tensor-parallel group failed; requests then fail fast
  uint64_t next_id_ = 1;
  tandem_engine_stats stats_{};
  std::thread thread_;
};

}  // namespace tandem
