// config.json → ModelConfig. Every field is read through a checked accessor so a missing or
// mistyped value becomes "<path>/config.json: field <name>: <problem>" instead of a JSON
// exception or a silently defaulted zero. Rules follow transformers' newest Cohere2Config
// (shared/reference/cohere2-architecture.md §2), plus the original Cohere keys, which must agree
// with the math we implement when they are present.
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/config.h"
#include "util/status.h"

namespace tandem {
namespace {

using nlohmann::json;

class Reader {
 public:
  Reader(const json& j, const std::string& source) : j_(j), source_(source) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem,
                         tandem_status status = TANDEM_STATUS_MODEL_FORMAT) const {
    throw Error(status, source_ + ": field " + field + ": " + problem);
  }

  bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int64_t integer(const char* key, const json& v) const {
    if (v.is_number_integer()) return v.get<int64_t>();
    // transformers writes some integers as floats in hand-edited configs ("4096.0"); accept
    // only exact integral values.
    if (v.is_number_float()) {
      double d = v.get<double>();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return int64_t(d);
    }
    fail(key, "expected an integer, got " + v.dump());
  }

  int64_t required_int(const char* key) const {
    if (!j_.contains(key)) fail(key, "missing (required)");
    if (j_.at(key).is_null()) fail(key, "is null (required)");
    return integer(key, j_.at(key));
  }
  int64_t optional_int(const char* key, int64_t def) const { return has(key) ? integer(key, j_.at(key)) : def; }

  int64_t positive(const char* key, int64_t v) const {
    if (v <= 0) fail(key, "must be positive, got " + std::to_string(v));
    return v;
  }

  double number(const char* key, const json& v) const {
    if (!v.is_number()) fail(key, "expected a number, got " + v.dump());
    return v.get<double>();
  }
  double optional_number(const char* key, double def) const { return has(key) ? number(key, j_.at(key)) : def; }

  // Original Cohere keys describe the math; when present they must match what we implement.
  void expect_string(const char* key, const char* want) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_string()) fail(key, "expected a string, got " + v.dump());
    if (v.get<std::string>() != want)
      fail(key, "\"" + v.get<std::string>() + "\" is not supported (Cohere2 needs \"" + want + "\")",
           TANDEM_STATUS_UNSUPPORTED);
  }
  void expect_bool(const char* key, bool want) const {
    if (!has(key)) return;
    const json& v = j_.at(key);
    if (!v.is_boolean()) fail(key, "expected a boolean, got " + v.dump());
    if (v.get<bool>() != want)
      fail(key, std::string(want ? "false" : "true") + " is not supported (Cohere2 needs " +
                    (want ? "true" : "false") + ")",
           TANDEM_STATUS_UNSUPPORTED);
  }

  // Token ids: an int, null (none) or, for eos, a list whose first entry is the primary id.
  int32_t token_id(const char* key, int32_t def, std::vector<int32_t>* all = nullptr) const {
    if (!j_.contains(key)) {
      if (all && def >= 0) all->push_back(def);
      return def;
    }
    const json& v = j_.at(key);
    if (v.is_null()) return -1;
    auto one = [&](const json& e) {
      int64_t id = integer(key, e);
      if (id < 0 || id > std::numeric_limits<int32_t>::max()) fail(key, "token id out of range: " + e.dump());
      return int32_t(id);
    };
    if (v.is_array()) {
      if (!all) fail(key, "expected an integer, got a list");
      if (v.empty()) fail(key, "empty list");
      for (const json& e : v) all->push_back(one(e));
      return (*all)[0];
    }
    int32_t id = one(v);
    if (all) all->push_back(id);
    return id;
  }

  const json& j_;
  const std::string& source_;
};

void parse_layer_types(const Reader& r, const json& j, ModelConfig& c) {
  c.layer_types.clear();
  if (j.contains("layer_types") && !j.at("layer_types").is_null()) {
    const json& lt = j.at("layer_types");
    if (!lt.is_array()) r.fail("layer_types", "expected a list of strings");
    if (int64_t(lt.size()) != c.num_layers)
      r.fail("layer_types", "has " + std::to_string(lt.size()) + " entries, num_hidden_layers is " +
                                std::to_string(c.num_layers));
    for (size_t i = 0; i < lt.size(); i++) {
      const json& e = lt[i];
      std::string field = "layer_types[" + std::to_string(i) + "]";
      if (!e.is_string()) r.fail(field.c_str(), "expected a string, got " + e.dump());
      const std::string s = e.get<std::string>();
      if (s == "sliding_attention") c.layer_types.push_back(AttnKind::Sliding);
      else if (s == "full_attention") c.layer_types.push_back(AttnKind::Full);
      else r.fail(field.c_str(), "\"" + s + "\" is not sliding_attention or full_attention");
    }
  } else {
    int64_t p = r.positive("sliding_window_pattern", r.optional_int("sliding_window_pattern", 4));
    for (int64_t i = 0; i < c.num_layers; i++)
      c.layer_types.push_back((i + 1) % p != 0 ? AttnKind::Sliding : AttnKind::Full);
  }
  c.layer_index_in_kind.assign(size_t(c.num_layers), 0);
  c.num_sliding_layers = c.num_full_layers = 0;
  for (int64_t i = 0; i < c.num_layers; i++) {
    int64_t& n = c.layer_types[size_t(i)] == AttnKind::Sliding ? c.num_sliding_layers : c.num_full_layers;
    c.layer_index_in_kind[size_t(i)] = int32_t(n++);
  }
}

void parse_rope(const Reader& r, const json& j, ModelConfig& c) {
  if (r.has("rope_scaling")) r.fail("rope_scaling", "RoPE scaling is not supported (must be null)", TANDEM_STATUS_UNSUPPORTED);
  double theta = 10000.0;
  if (r.has("rope_theta")) {
    theta = r.number("rope_theta", j.at("rope_theta"));
  } else if (r.has("rope_parameters")) {
    const json& rp = j.at("rope_parameters");
    if (!rp.is_object()) r.fail("rope_parameters", "expected an object");
    if (rp.contains("rope_type") && !rp.at("rope_type").is_null()) {
      const json& t = rp.at("rope_type");
      if (!t.is_string() || t.get<std::string>() != "default")
        r.fail("rope_parameters.rope_type", t.dump() + " is not supported (only \"default\")", TANDEM_STATUS_UNSUPPORTED);
    }
    if (rp.contains("rope_theta") && !rp.at("rope_theta").is_null())
      theta = r.number("rope_parameters.rope_theta", rp.at("rope_theta"));
  }
  if (!(theta > 1.0) || !std::isfinite(theta)) r.fail("rope_theta", "must be a finite number > 1");
  c.rope_theta = float(theta);
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw Error(TANDEM_STATUS_MODEL_FORMAT, source + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(TANDEM_STATUS_MODEL_FORMAT, source + ": expected a JSON object");
  Reader r(j, source);

  if (!j.contains("model_type")) r.fail("model_type", "missing (required, must be \"cohere2\")");
  const json& mt = j.at("model_type");
  if (!mt.is_string() || mt.get<std::string>() != "cohere2")
    r.fail("model_type", mt.dump() + " is not supported (only \"cohere2\")", TANDEM_STATUS_UNSUPPORTED);

  ModelConfig c;
  c.vocab_size = r.positive("vocab_size", r.required_int("vocab_size"));
  c.hidden_size = r.positive("hidden_size", r.required_int("hidden_size"));
  c.num_layers = r.positive("num_hidden_layers", r.required_int("num_hidden_layers"));
  c.num_heads = r.positive("num_attention_heads", r.required_int("num_attention_heads"));
  c.num_kv_heads = r.positive("num_key_value_heads", r.optional_int("num_key_value_heads", c.num_heads));
  c.intermediate_size = r.positive("intermediate_size", r.required_int("intermediate_size"));
  c.sliding_window = r.positive("sliding_window", r.required_int("sliding_window"));
  c.max_position_embeddings = r.positive("max_position_embeddings", r.optional_int("max_position_embeddings", 8192));
  if (c.vocab_size > std::numeric_limits<int32_t>::max()) r.fail("vocab_size", "too large");

  if (c.hidden_size % c.num_heads != 0)
    r.fail("num_attention_heads", "hidden_size " + std::to_string(c.hidden_size) + " is not divisible by " +
                                      std::to_string(c.num_heads) + " heads");
  if (c.num_heads % c.num_kv_heads != 0)
    r.fail("num_key_value_heads", std::to_string(c.num_kv_heads) + " does not divide num_attention_heads " +
                                      std::to_string(c.num_heads));
  // transformers recomputes head_dim and ignores the config's value.
  c.head_dim = c.hidden_size / c.num_heads;
  if (c.head_dim % 2 != 0)
    r.fail("num_attention_heads", "head_dim = hidden_size / num_attention_heads = " + std::to_string(c.head_dim) +
                                      " is odd; RoPE needs an even head_dim");

  parse_layer_types(r, j, c);
  parse_rope(r, j, c);

  c.logit_scale = float(r.optional_number("logit_scale", 0.0625));
  if (!std::isfinite(c.logit_scale)) r.fail("logit_scale", "must be finite");
  c.layer_norm_eps = float(r.optional_number("layer_norm_eps", 1e-5));
  if (!(c.layer_norm_eps > 0.f) || !std::isfinite(c.layer_norm_eps)) r.fail("layer_norm_eps", "must be a positive number");

  // Cohere2Config defaults when a key is absent; null means "none".
  c.bos_token_id = r.token_id("bos_token_id", 5);
  c.pad_token_id = r.token_id("pad_token_id", 0);
  c.eos_token_id = r.token_id("eos_token_id", 255001, &c.eos_token_ids);

  // The LM head is the embedding matrix; an untied head has no weights we would load.
  r.expect_bool("tie_word_embeddings", true);
  r.expect_bool("use_embedding_sharing", true);
  r.expect_bool("attention_bias", false);
  r.expect_string("hidden_act", "silu");
  r.expect_string("position_embedding_type", "rope_gptj");
  if (r.has("rotary_pct") && r.number("rotary_pct", j.at("rotary_pct")) != 1.0)
    r.fail("rotary_pct", j.at("rotary_pct").dump() + " is not supported (Cohere2 rotates all dims: 1.0)",
           TANDEM_STATUS_UNSUPPORTED);
  r.expect_bool("use_parallel_block", true);
  r.expect_bool("use_gated_activation", true);
  r.expect_bool("use_qk_norm", false);
  r.expect_string("order_of_interleaved_layers", "local_attn_first");
  return c;
}

ModelConfig load_model_config(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(TANDEM_STATUS_NOT_FOUND, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(TANDEM_STATUS_IO_ERROR, path + ": read failed");
  return parse_model_config(ss.str(), path);
}

}  // namespace tandem
