// Cohere2Model::load: config, checkpoint, and a strict check of every tensor against the
// architecture (reference §3) before anything runs. Big matrices stay as views into the mmap;
// only the small LayerNorm weights are converted to f32.
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <set>

#include "model/cohere2.h"
#include "model/cohere2_weights.h"
#include "util/status.h"

namespace tandem {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

struct Expected {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<Expected> expected_tensors(const ModelConfig& c) {
  const int64_t H = c.hidden_size, d = c.head_dim, I = c.intermediate_size;
  std::vector<Expected> e = {{"model.embed_tokens.weight", {c.vocab_size, H}}, {"model.norm.weight", {H}}};
  for (int64_t i = 0; i < c.num_layers; i++) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    e.push_back({p + "input_layernorm.weight", {H}});
    e.push_back({p + "self_attn.q_proj.weight", {c.num_heads * d, H}});
    e.push_back({p + "self_attn.k_proj.weight", {c.num_kv_heads * d, H}});
    e.push_back({p + "self_attn.v_proj.weight", {c.num_kv_heads * d, H}});
    e.push_back({p + "self_attn.o_proj.weight", {H, c.num_heads * d}});
    e.push_back({p + "mlp.gate_proj.weight", {I, H}});
    e.push_back({p + "mlp.up_proj.weight", {I, H}});
    e.push_back({p + "mlp.down_proj.weight", {H, I}});
  }
  return e;
}

// Every problem at once (a user fixing a converted checkpoint wants the whole list), capped so a
// completely wrong folder does not produce a megabyte of text.
void check_tensors(const ModelConfig& c, const SafetensorsCheckpoint& ck) {
  std::vector<std::string> problems;
  std::set<std::string> known;
  for (const Expected& e : expected_tensors(c)) {
    known.insert(e.name);
    auto it = ck.tensors().find(e.name);
    if (it == ck.tensors().end()) {
      problems.push_back(ck.source() + ": tensor " + e.name + " missing (expected shape " + shape_str(e.shape) + ")");
    } else if (it->second.shape != e.shape) {
      problems.push_back(it->second.file + ": tensor " + e.name + ": shape " + shape_str(it->second.shape) +
                         ", expected " + shape_str(e.shape) + " from config.json");
    }
  }
  for (const auto& [name, t] : ck.tensors()) {
    // A tied checkpoint may still carry lm_head.weight; the head is the embedding, so skip it.
    if (known.count(name) || name == "lm_head.weight") continue;
    problems.push_back(t.file + ": tensor " + name + ": unexpected (not a Cohere2ForCausalLM weight)");
  }
  if (problems.empty()) return;
  std::string msg;
  const size_t shown = std::min<size_t>(problems.size(), 8);
  for (size_t i = 0; i < shown; i++) msg += (i ? "; " : "") + problems[i];
  if (problems.size() > shown) msg += "; and " + std::to_string(problems.size() - shown) + " more";
  throw Error(TANDEM_STATUS_MODEL_FORMAT, msg);
}

ops::WeightView view(const TensorInfo& t) {
  ops::WeightView w;
  w.data = t.data;
  w.dtype = t.dtype;
  w.rows = t.shape.size() == 2 ? t.shape[0] : 1;
  w.cols = t.shape.back();
  return w;
}

std::vector<float> to_f32(const TensorInfo& t) {
  ops::WeightView w = view(t);
  std::vector<float> out(size_t(w.rows * w.cols));
  ops::weight_row_to_f32(w, 0, out.data());
  return out;
}

size_t dtype_bytes(ops::DType d) { return d == ops::DType::F32 ? 4 : 2; }

// Output rows [lo, lo + n) of a row-major matrix: a view, nothing read.
ops::WeightView row_slice(const ops::WeightView& w, int64_t lo, int64_t n) {
  ops::WeightView r = w;
  r.data = static_cast<const char*>(w.data) + size_t(lo * w.cols) * dtype_bytes(w.dtype);
  r.rows = n;
  return r;
}

// Drops the mapped pages of [p, p + n) from this process (they stay in the page cache): after a
// column slice was packed, the whole rows it was read from no longer count in our RSS.
void drop_pages(const void* p, size_t n) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = (uintptr_t(p) + page - 1) & ~(page - 1), hi = (uintptr_t(p) + n) & ~(page - 1);
  if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

// Input columns [lo, lo + n) of every row, packed once into `store` (the matmul kernels read
// rows contiguously, so a strided view is not an option).
ops::WeightView col_slice(const ops::WeightView& w, int64_t lo, int64_t n, std::vector<uint8_t>& store) {
  const size_t es = dtype_bytes(w.dtype);
  store.resize(size_t(w.rows * n) * es);
  const char* src = static_cast<const char*>(w.data);
  for (int64_t r = 0; r < w.rows; r++)
    std::memcpy(store.data() + size_t(r * n) * es, src + size_t(r * w.cols + lo) * es, size_t(n) * es);
  drop_pages(w.data, size_t(w.rows * w.cols) * es);
  ops::WeightView out = w;
  out.data = store.data();
  out.cols = n;
  return out;
}

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t model_fingerprint(const ModelConfig& c, const SafetensorsCheckpoint& ck) {
  uint64_t h = 1469598103934665603ull;
  const int64_t dims[] = {c.vocab_size, c.hidden_size, c.num_layers, c.num_heads, c.num_kv_heads, c.intermediate_size,
                          c.sliding_window};
  h = fnv1a(h, dims, sizeof(dims));
  const float math[] = {c.rope_theta, c.logit_scale, c.layer_norm_eps};
  h = fnv1a(h, math, sizeof(math));
  for (const auto& [name, t] : ck.tensors()) {
    h = fnv1a(h, name.data(), name.size());
    h = fnv1a(h, &t.dtype, 1);
    h = fnv1a(h, t.shape.data(), t.shape.size() * sizeof(int64_t));
  }
  return h;
}

}  // namespace

TpDims tp_dims(const ModelConfig& c, const TpShard& s) {
  if (s.world < 1 || s.rank < 0 || s.rank >= s.world)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, "rank: " + std::to_string(s.rank) + " is outside [0, world_size " + std::to_string(s.world) + ")");
  const int64_t W = s.world;
  const std::string tp = "tensor parallelism " + std::to_string(W) + ": ";
  if (c.num_heads % W != 0)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, tp + "num_attention_heads " + std::to_string(c.num_heads) + " is not divisible by " + std::to_string(W));
  if (c.num_kv_heads % W != 0 && W % c.num_kv_heads != 0)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, tp + "num_key_value_heads " + std::to_string(c.num_kv_heads) +
                                                    " must divide by or divide " + std::to_string(W) + " (KV heads are split, or replicated when fewer than ranks)");
  if (c.intermediate_size % W != 0)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, tp + "intermediate_size " + std::to_string(c.intermediate_size) + " is not divisible by " + std::to_string(W));
  TpDims d;
  d.num_heads = c.num_heads / W;
  d.head_lo = s.rank * d.num_heads;
  if (c.num_kv_heads % W == 0) {
    d.num_kv_heads = c.num_kv_heads / W;
    d.kv_head_lo = s.rank * d.num_kv_heads;
  } else {
    // Replicated: this rank's query heads all belong to one KV group (W is a multiple of nkv).
    d.num_kv_heads = 1;
    d.kv_head_lo = d.head_lo / (c.num_heads / c.num_kv_heads);
  }
  d.intermediate = c.intermediate_size / W;
  d.inter_lo = s.rank * d.intermediate;
  d.vocab_per_rank = (c.vocab_size + W - 1) / W;
  if (d.vocab_per_rank * (W - 1) >= c.vocab_size)
    throw Error(TANDEM_STATUS_INVALID_ARGUMENT, tp + "vocab_size " + std::to_string(c.vocab_size) + " leaves the last rank no vocabulary rows");
  d.vocab_lo = s.rank * d.vocab_per_rank;
  d.vocab_hi = std::min(c.vocab_size, d.vocab_lo + d.vocab_per_rank);
  return d;
}

std::unique_ptr<Cohere2Model> Cohere2Model::load(const std::string& model_dir,
                                                 void (*progress)(void*, float, const char*), void* progress_user,
                                                 TpShard shard) {
  auto report = [&](float f, const char* what) {
    if (progress) progress(progress_user, f, what);
  };
  std::unique_ptr<Cohere2Model> m(new Cohere2Model());
  report(0.f, "reading config.json");
  m->config_ = load_model_config(model_dir);
  const ModelConfig& c = m->config_;
  report(0.05f, "mapping safetensors");
  m->checkpoint_ = SafetensorsCheckpoint::open(model_dir);
  check_tensors(c, *m->checkpoint_);
  m->shard_ = shard;
  m->dims_ = tp_dims(c, shard);
  m->fingerprint_ = model_fingerprint(c, *m->checkpoint_);
  const TpDims& td = m->dims_;
  const bool split = shard.world > 1;
  const int64_t d = c.head_dim;

  auto w = std::make_unique<Weights>();
  const SafetensorsCheckpoint& ck = *m->checkpoint_;
  w->embed = view(ck.get("model.embed_tokens.weight"));
  if (split) w->embed = row_slice(w->embed, td.vocab_lo, td.vocab_hi - td.vocab_lo);
  w->final_norm = to_f32(ck.get("model.norm.weight"));
  for (int64_t i = 0; i < c.num_layers; i++) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights L;
    L.norm = to_f32(ck.get(p + "input_layernorm.weight"));
    L.q = view(ck.get(p + "self_attn.q_proj.weight"));
    L.k = view(ck.get(p + "self_attn.k_proj.weight"));
    L.v = view(ck.get(p + "self_attn.v_proj.weight"));
    L.o = view(ck.get(p + "self_attn.o_proj.weight"));
    L.gate = view(ck.get(p + "mlp.gate_proj.weight"));
    L.up = view(ck.get(p + "mlp.up_proj.weight"));
    L.down = view(ck.get(p + "mlp.down_proj.weight"));
    if (split) {
      // Megatron: q/k/v and gate/up by output rows (whole heads), o and down by input columns.
      L.q = row_slice(L.q, td.head_lo * d, td.num_heads * d);
      L.k = row_slice(L.k, td.kv_head_lo * d, td.num_kv_heads * d);
      L.v = row_slice(L.v, td.kv_head_lo * d, td.num_kv_heads * d);
      L.gate = row_slice(L.gate, td.inter_lo, td.intermediate);
      L.up = row_slice(L.up, td.inter_lo, td.intermediate);
      L.o = col_slice(L.o, td.head_lo * d, td.num_heads * d, L.o_packed);
      L.down = col_slice(L.down, td.inter_lo, td.intermediate, L.down_packed);
    }
    w->layers.push_back(std::move(L));
    report(0.1f + 0.9f * float(i + 1) / float(c.num_layers), "weights");
  }
  // inv_freq[i] = θ^(−2i/d) in f32, as transformers computes it (f32 exponent, f32 pow, 1/x).
  for (int64_t i = 0; i < c.head_dim / 2; i++)
    w->inv_freq.push_back(1.0f / std::pow(c.rope_theta, float(2 * i) / float(c.head_dim)));
  for (const auto& [name, t] : ck.tensors()) {
    if (name == "lm_head.weight") continue;
    w->bytes += t.nbytes;
    w->bytes_by_dtype[size_t(t.dtype)] += t.nbytes;
  }
  if (split) {
    // This rank's share: its views and packed slices, plus the replicated norms.
    auto nbytes = [](const ops::WeightView& v) { return uint64_t(v.rows * v.cols) * dtype_bytes(v.dtype); };
    w->bytes = nbytes(w->embed) + uint64_t(c.hidden_size) * 4 * uint64_t(c.num_layers + 1);
    for (const LayerWeights& L : w->layers)
      w->bytes += nbytes(L.q) + nbytes(L.k) + nbytes(L.v) + nbytes(L.o) + nbytes(L.gate) + nbytes(L.up) + nbytes(L.down);
  }
  m->weights_ = std::move(w);
  report(1.f, "loaded");
  return m;
}

Cohere2Model::~Cohere2Model() = default;

ops::DType Cohere2Model::weight_dtype() const {
  // Tensors may differ in dtype; report the one holding most of the bytes.
  size_t best = size_t(ops::DType::F32);
  for (size_t i = 1; i < 4; i++)
    if (weights_->bytes_by_dtype[i] > weights_->bytes_by_dtype[best]) best = i;
  return ops::DType(best);
}

uint64_t Cohere2Model::weight_bytes() const { return weights_->bytes; }

}  // namespace tandem
