// config.json parsing: defaults, the layer schedule, and every error naming file and field.
#include <gtest/gtest.h>

#include "harness.h"
#include "util/status.h"

using namespace tandem;
using nlohmann::json;

namespace {

const std::string kSrc = "/models/x/config.json";

json minimal() {
  return {{"model_type", "cohere2"}, {"vocab_size", 384},     {"hidden_size", 64},       {"num_hidden_layers", 8},
          {"num_attention_heads", 4}, {"intermediate_size", 160}, {"sliding_window", 6}};
}

ModelConfig parse(const json& j) { return parse_model_config(j.dump(), kSrc); }

// The error text for a config, checking its status; "" if it parses.
std::string error_of(const json& j, tandem_status want = TANDEM_STATUS_MODEL_FORMAT) {
  try {
    parse(j);
  } catch (const Error& e) {
    EXPECT_EQ(e.status(), want) << e.what();
    return e.what();
  }
  return "";
}

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

}  // namespace

TEST(Cohere2Config, FixtureConfig) {
  ModelConfig c = load_model_config(test::fixture("cohere2-tiny"));
  EXPECT_EQ(c.vocab_size, 384);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.sliding_window, 6);
  EXPECT_FLOAT_EQ(c.rope_theta, 50000.f);
  EXPECT_FLOAT_EQ(c.logit_scale, 0.25f);
  EXPECT_EQ(c.eos_token_id, 3);
  EXPECT_EQ(c.bos_token_id, 5);
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.max_position_embeddings, 256);
  std::vector<AttnKind> want(8, AttnKind::Sliding);
  want[3] = want[7] = AttnKind::Full;
  EXPECT_EQ(c.layer_types, want);
  EXPECT_EQ(c.layer_index_in_kind, (std::vector<int32_t>{0, 1, 2, 0, 3, 4, 5, 1}));
  EXPECT_EQ(c.num_sliding_layers, 6);
  EXPECT_EQ(c.num_full_layers, 2);
  // The bf16 fixture (transformers 5) puts rope_theta under rope_parameters.
  EXPECT_FLOAT_EQ(load_model_config(test::fixture("cohere2-tiny-bf16-sharded")).rope_theta, 50000.f);
}

TEST(Cohere2Config, DefaultsOfAMinimalConfig) {
  ModelConfig c = parse(minimal());
  EXPECT_EQ(c.num_kv_heads, 4);  // defaults to the query heads
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.f);
  EXPECT_FLOAT_EQ(c.logit_scale, 0.0625f);
  EXPECT_FLOAT_EQ(c.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.eos_token_id, 255001);
  // sliding_window_pattern 4: layer i is sliding unless (i + 1) % 4 == 0.
  EXPECT_EQ(c.layer_types[2], AttnKind::Sliding);
  EXPECT_EQ(c.layer_types[3], AttnKind::Full);
  EXPECT_EQ(c.layer_types[7], AttnKind::Full);
  EXPECT_EQ(c.num_full_layers, 2);
}

TEST(Cohere2Config, PatternHeadDimEosListAndCohereKeys) {
  json j = minimal();
  j["sliding_window_pattern"] = 2;
  j["head_dim"] = 99;  // ignored: transformers recomputes hidden / heads
  j["eos_token_id"] = {255001, 255003};
  j["position_embedding_type"] = "rope_gptj";
  j["rotary_pct"] = 1.0;
  j["use_parallel_block"] = true;
  j["use_qk_norm"] = false;
  j["order_of_interleaved_layers"] = "local_attn_first";
  j["rope_scaling"] = nullptr;
  ModelConfig c = parse(j);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.eos_token_id, 255001);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int32_t>{255001, 255003}));
  EXPECT_EQ(c.num_full_layers, 4);
  EXPECT_EQ(c.layer_types[1], AttnKind::Full);
}

TEST(Cohere2Config, ModelTypeLlama) {
  json j = minimal();
  j["model_type"] = "llama";
  EXPECT_HAS(error_of(j, TANDEM_STATUS_UNSUPPORTED), kSrc + ": field model_type: \"llama\" is not supported");
}

TEST(Cohere2Config, MissingRequiredFields) {
  for (const char* f : {"hidden_size", "vocab_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                        "sliding_window"}) {
    json j = minimal();
    j.erase(f);
    EXPECT_HAS(error_of(j), kSrc + ": field " + f + ": missing");
  }
}

TEST(Cohere2Config, WrongTypesAndValues) {
  json j = minimal();
  j["hidden_size"] = "64";
  EXPECT_HAS(error_of(j), kSrc + ": field hidden_size: expected an integer");
  j = minimal();
  j["sliding_window"] = 0;
  EXPECT_HAS(error_of(j), kSrc + ": field sliding_window: must be positive");
  j = minimal();
  j["num_attention_heads"] = 5;
  EXPECT_HAS(error_of(j), kSrc + ": field num_attention_heads: hidden_size 64 is not divisible");
  j = minimal();
  j["num_key_value_heads"] = 3;
  EXPECT_HAS(error_of(j), kSrc + ": field num_key_value_heads");
  j = minimal();
  j["hidden_size"] = 4 * 15;  // head_dim 15
  EXPECT_HAS(error_of(j), "is odd");
  EXPECT_HAS(error_of(json::array()), kSrc + ": expected a JSON object");
  EXPECT_HAS(error_of(json::parse("{}")), kSrc + ": field model_type: missing");
}

TEST(Cohere2Config, BadLayerTypes) {
  json j = minimal();
  j["layer_types"] = std::vector<std::string>(7, "sliding_attention");
  EXPECT_HAS(error_of(j), kSrc + ": field layer_types: has 7 entries, num_hidden_layers is 8");
  j["layer_types"] = std::vector<std::string>(8, "sliding_attention");
  j["layer_types"][5] = "chunked_attention";
  EXPECT_HAS(error_of(j), kSrc + ": field layer_types[5]: \"chunked_attention\"");
  j["layer_types"] = "sliding_attention";
  EXPECT_HAS(error_of(j), kSrc + ": field layer_types: expected a list");
}

TEST(Cohere2Config, UnsupportedMath) {
  json j = minimal();
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_HAS(error_of(j, TANDEM_STATUS_UNSUPPORTED), kSrc + ": field rope_scaling");
  j = minimal();
  j["rope_parameters"] = {{"rope_type", "yarn"}, {"rope_theta", 50000}};
  EXPECT_HAS(error_of(j, TANDEM_STATUS_UNSUPPORTED), kSrc + ": field rope_parameters.rope_type");
  j = minimal();
  j["tie_word_embeddings"] = false;
  EXPECT_HAS(error_of(j, TANDEM_STATUS_UNSUPPORTED), kSrc + ": field tie_word_embeddings");
  for (auto [k, v] : std::vector<std::pair<const char*, json>>{{"position_embedding_type", "rope"},
                                                               {"rotary_pct", 0.5},
                                                               {"use_parallel_block", false},
                                                               {"use_qk_norm", true},
                                                               {"order_of_interleaved_layers", "global_attn_first"}}) {
    j = minimal();
    j[k] = v;
    EXPECT_HAS(error_of(j, TANDEM_STATUS_UNSUPPORTED), kSrc + ": field " + k);
  }
}
