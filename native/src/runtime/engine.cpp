#include "runtime/engine.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>

#include "runtime/tp.h"
#include "runtime/validate.h"
#include "util/status.h"

namespace tandem {

// A caller blocked in Engine::logits.
struct Engine::LogitsWaiter {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  tandem_status status = TANDEM_STATUS_OK;
  std::string error;
  float* out = nullptr;
  bool all_positions = false;
};

// Step-thread state of one request.
struct Engine::Request {
  uint64_t id = 0;
  tandem_event_fn callback = nullptr;
  void* user = nullptr;
  std::unique_ptr<Sampler> sampler;  // null for logits requests
  std::shared_ptr<LogitsWaiter> waiter;
  uint32_t prompt_len = 0, max_tokens = 0, generated = 0;
  std::vector<int32_t> stop_ids;
  bool ignore_eos = false;
};

struct Engine::Submission {
  std::unique_ptr<Request> req;
  SchedSeq seq;
};

// An event with owned storage; pointers in `ev` are set just before the callback.
struct Engine::OwnedEvent {
  tandem_event_fn callback = nullptr;
  void* user = nullptr;
  tandem_token_event ev{};
  std::vector<int32_t> tokens, top_ids;
  std::vector<float> logprobs, top_logprobs;
  std::string error;
};

namespace {

tandem_dtype to_c_dtype(ops::DType d) {
  switch (d) {
    case ops::DType::F32: return TANDEM_DTYPE_F32;
    case ops::DType::BF16: return TANDEM_DTYPE_BF16;
    case ops::DType::F16: return TANDEM_DTYPE_F16;
  }
  return TANDEM_DTYPE_UNSPECIFIED;
}

std::vector<std::string> validate_options(const tandem_engine_options& o) {
  std::vector<std::string> e;
  if (!o.model_dir || !*o.model_dir) e.push_back("model_dir: must not be empty");
  if (o.block_size > 4096) e.push_back("block_size: must be <= 4096");
  if (o.threads > 4096) e.push_back("threads: must be <= 4096");
  return e;
}

}  // namespace

std::unique_ptr<Engine> Engine::create(const tandem_engine_options& o, tandem_progress_fn progress, void* user) {
  std::vector<std::string> problems = validate_options(o);
  for (std::string& p : validate_tp_options(o, false)) problems.push_back(std::move(p));
  throw_if_invalid(problems);
  std::unique_ptr<Engine> e(new Engine());
  const bool tp = o.world_size > 1;
  e->model_ = Cohere2Model::load(o.model_dir, progress, user, TpShard{0, tp ? int(o.world_size) : 1});
  const ModelConfig& c = e->model_->config();
  const int64_t local_kv_heads = e->model_->dims().num_kv_heads;  // this rank's KV heads
  e->vocab_ = c.vocab_size;
  e->max_seq_len_ = o.max_seq_len ? int64_t(o.max_seq_len) : c.max_position_embeddings;
  const int64_t B = o.block_size ? o.block_size : 16;
  const int64_t max_batch = o.max_batch_tokens ? o.max_batch_tokens : 512;
  const int64_t max_running = o.max_running ? o.max_running : 64;
  const uint64_t budget = o.kv_memory_bytes ? o.kv_memory_bytes : (uint64_t(512) << 20);

  KvGeometry g;
  g.block_size = B;
  g.sliding_window = c.sliding_window;
  g.num_sliding_layers = c.num_sliding_layers;
  g.num_full_layers = c.num_full_layers;
  g.num_kv_heads = local_kv_heads;
  g.head_dim = c.head_dim;
  const KvPoolPlan plan = plan_kv_pools(g, budget, e->max_seq_len_, max_batch);
  if (tp) {
    // Rendezvous after loading (the fingerprint needs the checkpoint), then tell the followers
    // the pool geometry so block ids mean the same on every rank.
    const dist::GroupOptions go = group_options(o, e->model_->fingerprint());
    e->comm_ = dist::connect_group(go);
    e->model_->set_communicator(e->comm_.get());
    std::vector<uint8_t> init = encode_init(TpInit{plan.sliding_blocks, plan.full_blocks, int32_t(B)});
    e->comm_->broadcast_message(init);
  }
  // calloc: large requests are fresh zero pages from the OS, touched only when used.
  float* buf = static_cast<float*>(std::calloc(std::max<uint64_t>(plan.total_bytes, 4) / 4, sizeof(float)));
  if (!buf) throw Error(TANDEM_STATUS_RESOURCE_EXHAUSTED, "kv_memory_bytes: cannot allocate " + std::to_string(plan.total_bytes) + " bytes");
  e->kv_buf_ = std::unique_ptr<float, void (*)(void*)>(buf, std::free);
  e->sliding_view_ = KvPoolView{buf, plan.sliding_blocks, int32_t(c.num_sliding_layers), int32_t(B),
                                int32_t(local_kv_heads), int32_t(c.head_dim)};
  e->full_view_ = KvPoolView{buf + int64_t(plan.sliding_blocks) * e->sliding_view_.floats_per_block(), plan.full_blocks,
                             int32_t(c.num_full_layers), int32_t(B), int32_t(local_kv_heads), int32_t(c.head_dim)};
  e->kv_ = std::make_unique<KvManager>(g, plan.sliding_blocks, plan.full_blocks);
  e->sched_ = std::make_unique<Scheduler>(SchedulerLimits{max_batch, max_running}, *e->kv_);
  e->pool_ = std::make_unique<ThreadPool>(int(o.threads));

  tandem_model_info& i = e->info_;
  i.vocab_size = uint32_t(c.vocab_size);
  i.hidden_size = uint32_t(c.hidden_size);
  i.num_layers = uint32_t(c.num_layers);
  i.num_heads = uint32_t(c.num_heads);
  i.num_kv_heads = uint32_t(c.num_kv_heads);
  i.head_dim = uint32_t(c.head_dim);
  i.intermediate_size = uint32_t(c.intermediate_size);
  i.sliding_window = uint32_t(c.sliding_window);
  i.num_sliding_layers = uint32_t(c.num_sliding_layers);
  i.num_full_layers = uint32_t(c.num_full_layers);
  i.max_position_embeddings = uint32_t(c.max_position_embeddings);
  i.bos_token_id = c.bos_token_id;
  i.eos_token_id = c.eos_token_id;
  i.pad_token_id = c.pad_token_id;
  i.logit_scale = c.logit_scale;
  i.weight_dtype = to_c_dtype(e->model_->weight_dtype());
  i.block_size = uint32_t(B);
  i.max_batch_tokens = uint32_t(max_batch);
  i.max_running = uint32_t(max_running);
  i.max_seq_len = uint32_t(e->max_seq_len_);
  i.threads = uint32_t(e->pool_->size());
  i.sliding_blocks_total = uint32_t(e->kv_->sliding_pool().total());
  i.full_blocks_total = uint32_t(e->kv_->full_pool().total());
  i.weight_bytes = e->model_->weight_bytes();
  i.kv_bytes = plan.total_bytes;
  i.tp_rank = 0;
  i.tp_world_size = tp ? o.world_size : 1;
  i.tp_transport = !e->comm_ ? 0 : std::string(e->comm_->transport()) == "shm" ? 2 : 1;
  e->stats_.sliding_blocks_total = i.sliding_blocks_total;
  e->stats_.full_blocks_total = i.full_blocks_total;
  if (progress) progress(user, 1.f, "kv");
  e->thread_ = std::thread([p = e.get()] { p->loop(); });
  return e;
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

tandem_engine_stats Engine::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

uint64_t Engine::submit(const tandem_request_params& p, tandem_event_fn callback, void* user) {
  std::vector<std::string> problems = validate_request(p, RequestLimits{vocab_, max_seq_len_});
  if (!callback) problems.push_back("callback: must not be NULL");
  throw_if_invalid(problems);
  auto sub = std::make_unique<Submission>();
  auto r = std::make_unique<Request>();
  r->callback = callback;
  r->user = user;
  r->prompt_len = p.prompt_len;
  r->max_tokens = p.max_tokens;
  r->ignore_eos = p.ignore_eos != 0;
  r->stop_ids.assign(p.stop_token_ids, p.stop_token_ids + p.num_stop_token_ids);
  SamplingConfig sc;
  sc.temperature = p.sampling.temperature;
  sc.top_k = p.sampling.top_k;
  sc.top_p = p.sampling.top_p;
  sc.min_p = p.sampling.min_p;
  sc.repetition_penalty = p.sampling.repetition_penalty;
  sc.frequency_penalty = p.sampling.frequency_penalty;
  sc.presence_penalty = p.sampling.presence_penalty;
  sc.top_logprobs = p.sampling.top_logprobs;
  if (p.sampling.has_seed) {
    sc.seed = p.sampling.seed;
  } else {
    std::random_device rd;
    sc.seed = (uint64_t(rd()) << 32) ^ rd();
  }
  r->sampler = std::make_unique<Sampler>(sc, std::span<const int32_t>(p.prompt, p.prompt_len));
  sub->seq.priority = p.priority;
  sub->seq.tokens.assign(p.prompt, p.prompt + p.prompt_len);
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) throw Error(TANDEM_STATUS_CANCELLED, "engine: shutting down");
    if (!group_error_.empty()) throw Error(TANDEM_STATUS_UNAVAILABLE, "tensor-parallel group failed: " + group_error_);
    id = r->id = sub->seq.id = next_id_++;
    live_.insert(id);
    sub->req = std::move(r);
    inbox_.push_back(std::move(sub));
  }
  cv_.notify_all();
  return id;
}

void Engine::cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!live_.count(id)) throw Error(TANDEM_STATUS_NOT_FOUND, "request_id: " + std::to_string(id) + " is not running or waiting");
    cancels_.push_back(id);
  }
  cv_.notify_all();
}

void Engine::logits(const int32_t* tokens, uint32_t n_tokens, bool all_positions, float* out, size_t out_len) {
  throw_if_invalid(validate_logits_request(tokens, n_tokens, all_positions, out, out_len, RequestLimits{vocab_, max_seq_len_}));
  if (on_step_thread())
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "tandem_engine_logits: must not be called from an event callback");
  auto waiter = std::make_shared<LogitsWaiter>();
  waiter->out = out;
  waiter->all_positions = all_positions;
  auto sub = std::make_unique<Submission>();
  sub->req = std::make_unique<Request>();
  sub->req->waiter = waiter;
  sub->req->prompt_len = n_tokens;
  sub->seq.tokens.assign(tokens, tokens + n_tokens);
  sub->seq.prefill_only = true;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stop_) throw Error(TANDEM_STATUS_CANCELLED, "engine: shutting down");
    if (!group_error_.empty()) throw Error(TANDEM_STATUS_UNAVAILABLE, "tensor-parallel group failed: " + group_error_);
    sub->req->id = sub->seq.id = next_id_++;
    inbox_.push_back(std::move(sub));
  }
  cv_.notify_all();
  std::unique_lock<std::mutex> lk(waiter->mu);
  waiter->cv.wait(lk, [&] { return waiter->done; });
  if (waiter->status != TANDEM_STATUS_OK) throw Error(waiter->status, waiter->error);
}

// Ends a request: frees its blocks and queues its final event (or wakes its logits caller).
void Engine::finish(uint64_t id, tandem_finish_reason reason, const std::string& error, std::vector<OwnedEvent>& events) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  sched_->remove(id);
  Request& r = *it->second;
  if (r.waiter) {
    // Woken in publish(), after the stats snapshot shows the blocks freed.
    r.waiter->status = reason == TANDEM_FINISH_CANCELLED ? TANDEM_STATUS_CANCELLED
                       : reason == TANDEM_FINISH_ERROR   ? (comm_ && !group_error_.empty() ? TANDEM_STATUS_UNAVAILABLE : TANDEM_STATUS_INTERNAL)
                                                         : TANDEM_STATUS_OK;
    r.waiter->error = reason == TANDEM_FINISH_CANCELLED ? "engine: shut down before the logits were computed" : error;
    wake_.push_back(r.waiter);
  } else if (!events.empty() && events.back().ev.request_id == id && events.back().ev.finish == TANDEM_FINISH_NONE) {
    events.back().ev.finish = reason;  // the token event just queued is also the last one
    events.back().error = error;
  } else {
    OwnedEvent e;
    e.callback = r.callback;
    e.user = r.user;
    e.ev.request_id = id;
    e.ev.finish = reason;
    e.ev.prompt_tokens = r.prompt_len;
    e.ev.completion_tokens = r.generated;
    e.error = error;
    events.push_back(std::move(e));
  }
  requests_.erase(it);
}

std::vector<SeqChunk> Engine::build_batch(const StepPlan& plan) const {
  std::vector<SeqChunk> batch;
  batch.reserve(plan.chunks.size());
  for (const ScheduledChunk& c : plan.chunks) {
    const SchedSeq* s = sched_->get(c.id);
    const SeqBlocks* b = kv_->blocks(c.id);
    const Request& r = *requests_.at(c.id);
    SeqChunk sc;
    sc.tokens = std::span<const int32_t>(s->tokens.data() + c.start, size_t(c.n));
    sc.start_pos = c.start;
    if (b) {
      sc.full_blocks = b->full;
      sc.sliding_blocks = b->sliding;
      sc.sliding_first = b->sliding_first;
    }
    sc.all_logits = r.waiter && r.waiter->all_positions;
    batch.push_back(sc);
  }
  return batch;
}

// Samples the next token of request r from its last logits row, queues the event and finishes
// the request on a stop token, eos, max_tokens or max_seq_len.
void Engine::emit_token(Request& r, const float* row, const RowCandidates* candidates, std::vector<OwnedEvent>& events) {
  const SampleResult sr = row ? r.sampler->sample(row, vocab_, scratch_) : r.sampler->sample_candidates(*candidates);
  r.sampler->accept(sr.token);
  sched_->append_token(r.id, sr.token);
  ++r.generated;
  ++stats_generated_;
  OwnedEvent e;
  e.callback = r.callback;
  e.user = r.user;
  e.ev.request_id = r.id;
  e.ev.prompt_tokens = r.prompt_len;
  e.ev.completion_tokens = r.generated;
  e.tokens = {sr.token};
  e.logprobs = {sr.logprob};
  e.top_ids = sr.top_ids;
  e.top_logprobs = sr.top_logprobs;
  e.ev.n_tokens = 1;
  e.ev.n_top = uint32_t(sr.top_ids.size());
  events.push_back(std::move(e));
  const bool stop = std::find(r.stop_ids.begin(), r.stop_ids.end(), sr.token) != r.stop_ids.end() ||
                    (!r.ignore_eos && sr.token == info_.eos_token_id);
  if (stop) finish(r.id, TANDEM_FINISH_STOP, "", events);
  else if (r.generated >= r.max_tokens || int64_t(r.prompt_len) + r.generated >= max_seq_len_)
    finish(r.id, TANDEM_FINISH_LENGTH, "", events);
}

std::vector<RowNeed> Engine::row_needs(const StepPlan& plan, std::span<const SeqChunk> batch) const {
  std::vector<RowNeed> needs;
  for (size_t k = 0; k < plan.chunks.size(); ++k) {
    const ScheduledChunk& c = plan.chunks[k];
    const Request& r = *requests_.at(c.id);
    RowNeed n;
    if (r.waiter) {
      n.kind = r.waiter->all_positions || c.completes ? RowNeed::Full : RowNeed::None;
    } else if (c.completes) {
      const std::optional<CandidateNeed> cn = r.sampler->candidate_need(vocab_);
      n.kind = cn ? RowNeed::Candidates : RowNeed::Full;
      if (cn) n.need = *cn;
    }
    needs.insert(needs.end(), batch[k].all_logits ? size_t(c.n) : 1, n);
  }
  return needs;
}

void Engine::step(std::vector<OwnedEvent>& events) {
  const StepPlan plan = sched_->schedule();
  if (plan.empty()) {
    if (!plan.preempted.empty()) return;  // blocks were freed; the next plan admits
    // Cannot happen when the pools hold one max_seq_len sequence (checked at creation); fail
    // loudly rather than spin.
    for (uint64_t id : sched_->all_ids()) finish(id, TANDEM_FINISH_ERROR, "engine: request cannot be scheduled", events);
    return;
  }
  const std::vector<SeqChunk> batch = build_batch(plan);
  logits_.clear();
  if (comm_) {
    // Every rank runs the same batch; any failure here leaves the ranks out of step, so the
    // whole group goes down (followers see the closed connections at once).
    try {
      const std::vector<RowNeed> needs = row_needs(plan, batch);
      std::vector<uint8_t> msg = encode_plan(batch, needs);
      comm_->broadcast_message(msg);
      model_->forward(batch, sliding_view_, full_view_, pool_.get(), logits_, LogitsOut::LocalSlice);
      const TpDims& d = model_->dims();
      const LogitsSlice slice{logits_.data(), int64_t(needs.size()), d.vocab_lo, d.vocab_hi, d.vocab_per_rank, vocab_};
      merge_vocab_parallel(*comm_, slice, needs, &merged_);
    } catch (const std::exception& ex) {
      break_group(ex.what(), events);
      return;
    }
  } else {
    try {
      model_->forward(batch, sliding_view_, full_view_, pool_.get(), logits_);
    } catch (const std::exception& ex) {
      for (const ScheduledChunk& c : plan.chunks)
        finish(c.id, TANDEM_FINISH_ERROR, std::string("forward pass failed: ") + ex.what(), events);
      return;
    }
  }
  sched_->commit(plan);
  ++stats_steps_;
  // Logits rows come in chunk order: n per all_logits chunk, else 1. Tensor parallel: the merged
  // rows, whole where the row's need was Full (consecutive rows of a chunk stay consecutive).
  const auto whole_row = [&](size_t row) -> const float* {
    if (!comm_) return logits_.data() + row * size_t(vocab_);
    return merged_.full_row[row] < 0 ? nullptr : merged_.full_of(row);
  };
  size_t row = 0;
  for (size_t k = 0; k < plan.chunks.size(); ++k) {
    const ScheduledChunk& c = plan.chunks[k];
    const size_t rows = batch[k].all_logits ? size_t(c.n) : 1;
    const size_t first = row, last = row + rows - 1;
    row += rows;
    Request& r = *requests_.at(c.id);
    if (r.waiter) {
      if (r.waiter->all_positions)
        std::memcpy(r.waiter->out + c.start * vocab_, whole_row(first), rows * size_t(vocab_) * sizeof(float));
      else if (c.completes)
        std::memcpy(r.waiter->out, whole_row(last), size_t(vocab_) * sizeof(float));
      if (c.completes) finish(c.id, TANDEM_FINISH_LENGTH, "", events);
    } else if (c.completes) {
      const float* whole = whole_row(last);
      emit_token(r, whole, whole ? nullptr : &merged_.candidates[last], events);
    }
  }
}

// Updates the stats snapshot, forgets finished ids, then runs the callbacks (outside mu_, so a
// callback may call submit/cancel/stats).
void Engine::publish(std::vector<OwnedEvent>& events) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stats_.waiting = uint32_t(sched_->num_waiting());
    stats_.running = uint32_t(sched_->num_running());
    stats_.sliding_blocks_used = uint32_t(kv_->sliding_pool().used());
    stats_.full_blocks_used = uint32_t(kv_->full_pool().used());
    stats_.steps = stats_steps_;
    stats_.preemptions = sched_->preemptions();
    stats_.prompt_tokens_total = stats_prompt_;
    stats_.generated_tokens_total = stats_generated_;
    if (comm_) {
      const dist::CommStats cs = comm_->stats();
      stats_.collective_ops = cs.ops;
      stats_.collective_bytes = cs.bytes;
      stats_.collective_nanos = cs.nanos;
      stats_.tp_group_failed = group_error_.empty() ? 0 : 1;
    }
    for (const OwnedEvent& e : events)
      if (e.ev.finish != TANDEM_FINISH_NONE) live_.erase(e.ev.request_id);
  }
  for (auto& w : wake_) {
    std::lock_guard<std::mutex> lk(w->mu);
    w->done = true;
    w->cv.notify_all();
  }
  wake_.clear();
  for (OwnedEvent& e : events) {
    e.ev.tokens = e.tokens.empty() ? nullptr : e.tokens.data();
    e.ev.logprobs = e.logprobs.empty() ? nullptr : e.logprobs.data();
    e.ev.top_ids = e.top_ids.empty() ? nullptr : e.top_ids.data();
    e.ev.top_logprobs = e.top_logprobs.empty() ? nullptr : e.top_logprobs.data();
    e.ev.error = e.ev.finish == TANDEM_FINISH_ERROR ? e.error.c_str() : nullptr;
    e.callback(e.user, &e.ev);
  }
  events.clear();
}

void Engine::heartbeat(std::vector<OwnedEvent>& events) {
  try {
    std::vector<uint8_t> msg{uint8_t(TpMsg::Heartbeat)};
    comm_->broadcast_message(msg);
    const uint8_t alive = 1;
    std::vector<uint8_t> all(size_t(comm_->world_size()));
    comm_->gather(&alive, 1, all.data());
  } catch (const std::exception& ex) {
    break_group(ex.what(), events);
  }
}

// The group is down for good: close the connections (followers exit at once) and fail every
// request in flight; later submissions are refused with UNAVAILABLE.
void Engine::break_group(const std::string& reason, std::vector<OwnedEvent>& events) {
  comm_->abort(reason);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (group_error_.empty()) group_error_ = reason;
  }
  for (uint64_t id : sched_->all_ids()) finish(id, TANDEM_FINISH_ERROR, "tensor-parallel group failed: " + reason, events);
}

void Engine::loop() {
  std::vector<OwnedEvent> events;
  for (;;) {
    std::vector<std::unique_ptr<Submission>> inbox;
    std::vector<uint64_t> cancels;
    bool stop = false;
    {
      std::unique_lock<std::mutex> lk(mu_);
      auto ready = [&] { return stop_ || !inbox_.empty() || !cancels_.empty() || sched_->has_work(); };
      if (!comm_ || !group_error_.empty()) {
        cv_.wait(lk, ready);
      } else if (!cv_.wait_for(lk, std::chrono::milliseconds(kHeartbeatMs), ready)) {
        lk.unlock();
        heartbeat(events);
        publish(events);
        continue;
      }
      inbox.swap(inbox_);
      cancels.swap(cancels_);
      stop = stop_;
    }
    for (auto& sub : inbox) {
      const uint64_t id = sub->req->id;
      if (!sub->req->waiter) stats_prompt_ += sub->req->prompt_len;
      requests_.emplace(id, std::move(sub->req));
      sched_->add(std::move(sub->seq));
    }
    for (uint64_t id : cancels) finish(id, TANDEM_FINISH_CANCELLED, "", events);
    if (stop) {
      for (uint64_t id : sched_->all_ids()) finish(id, TANDEM_FINISH_CANCELLED, "", events);
      publish(events);
      if (comm_) {
        try {
          std::vector<uint8_t> bye{uint8_t(TpMsg::Shutdown)};
          comm_->broadcast_message(bye);
        } catch (const std::exception&) {
          // the group is already down; nothing left to tell
        }
      }
      return;
    }
    bool broken = false;
    {
      std::lock_guard<std::mutex> lk(mu_);
      broken = !group_error_.empty();
    }
    if (broken) {
      for (uint64_t id : sched_->all_ids())
        finish(id, TANDEM_FINISH_ERROR, "tensor-parallel group failed: " + group_error_, events);
      publish(events);
      continue;
    }
    if (sched_->has_work()) {
      try {
        step(events);
      } catch (const std::exception& ex) {
        // A bug in bookkeeping: fail what is in flight instead of killing the process.
        for (uint64_t id : sched_->all_ids()) finish(id, TANDEM_FINISH_ERROR, std::string("engine: ") + ex.what(), events);
      }
    }
    publish(events);
  }
}

}  // namespace tandem
