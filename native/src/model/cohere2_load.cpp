// Cohere2Model::load: config, checkpoint, and a strict check of every tensor against the
// architecture (reference §3) before anything runs. Big matrices stay as views into the mmap;
// only the small LayerNorm weights are converted to f32.
#include <cmath>
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

}  // namespace

std::unique_ptr<Cohere2Model> Cohere2Model::load(const std::string& model_dir,
                                                 void (*progress)(void*, float, const char*), void* progress_user) {
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

  auto w = std::make_unique<Weights>();
  const SafetensorsCheckpoint& ck = *m->checkpoint_;
  w->embed = view(ck.get("model.embed_tokens.weight"));
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
