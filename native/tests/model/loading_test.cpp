// Malformed checkpoints: every error must name the file and the tensor it is about. The bad
// files are written into a fresh temp dir from the tiny fixture's real tensors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "harness.h"
#include "util/status.h"

using namespace tandem;
using namespace tandem::test;
namespace fs = std::filesystem;

namespace {

struct Entry {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Writes a safetensors file: header JSON padded to 8 bytes, then tensors back to back.
void write_safetensors(const std::string& path, const std::vector<Entry>& entries) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t off = 0;
  for (const Entry& e : entries) {
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {off, off + e.bytes.size()}}};
    off += e.bytes.size();
  }
  h["__metadata__"] = {{"format", "pt"}};
  std::string hs = h.dump();
  while (hs.size() % 8) hs += ' ';
  std::ofstream out(path, std::ios::binary);
  uint64_t n = hs.size();
  for (int i = 0; i < 8; i++) out.put(char((n >> (8 * i)) & 0xff));
  out << hs;
  for (const Entry& e : entries) out << e.bytes;
}

std::vector<Entry> tiny_entries() {
  std::unique_ptr<SafetensorsCheckpoint> ck = SafetensorsCheckpoint::open(fixture("cohere2-tiny"));
  std::vector<Entry> out;
  for (const auto& [name, t] : ck->tensors())
    out.push_back({name, "F32", t.shape, std::string(static_cast<const char*>(t.data), t.nbytes)});
  return out;
}

class TempModel : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tandem-model-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    fs::copy_file(fixture("cohere2-tiny/config.json"), dir + "/config.json");
    entries = tiny_entries();
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string st() const { return dir + "/model.safetensors"; }
  Entry& entry(const std::string& name) {
    for (Entry& e : entries)
      if (e.name == name) return e;
    throw std::runtime_error("no entry " + name);
  }
  void write() { write_safetensors(st(), entries); }
  void write_raw(const std::string& bytes) { std::ofstream(st(), std::ios::binary) << bytes; }

  // Loads the folder; returns the error message (and checks the status), or "" when it loads.
  std::string load_error(tandem_status want = TANDEM_STATUS_MODEL_FORMAT) {
    try {
      Cohere2Model::load(dir);
    } catch (const Error& e) {
      EXPECT_EQ(e.status(), want) << e.what();
      return e.what();
    }
    return "";
  }

  std::string dir;
  std::vector<Entry> entries;
};

#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << "message: " << (msg)

}  // namespace

TEST_F(TempModel, RewrittenFixtureLoadsAndIgnoresLmHead) {
  entries.push_back({"lm_head.weight", "F32", {384, 64}, entry("model.embed_tokens.weight").bytes});
  write();
  EXPECT_EQ(load_error(), "");
}

TEST_F(TempModel, TruncatedDataNamesFileAndTensor) {
  write();
  fs::resize_file(st(), fs::file_size(st()) - 100);
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": tensor ");
  EXPECT_HAS(m, "truncated");
}

TEST_F(TempModel, FileShorterThanTheHeaderLength) {
  write_raw(std::string("\x03\x00", 2));
  std::string m = load_error();
  EXPECT_HAS(m, st());
  EXPECT_HAS(m, "truncated");
}

TEST_F(TempModel, HeaderLengthPastEndOfFile) {
  std::string raw(8, '\0');
  uint64_t n = 1000000;
  std::memcpy(raw.data(), &n, 8);  // x86-64 is little-endian, like the format
  write_raw(raw + "{}");
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": truncated: header length 1000000");
}

TEST_F(TempModel, BadHeaderJson) {
  std::string hs = "{\"model.norm.weight\": {\"dtype\": ";
  std::string raw(8, '\0');
  uint64_t n = hs.size();
  std::memcpy(raw.data(), &n, 8);
  write_raw(raw + hs);
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": bad header JSON");
}

TEST_F(TempModel, HeaderEntryWithoutOffsets) {
  std::string hs = R"({"model.norm.weight": {"dtype": "F32", "shape": [64]}})";
  std::string raw(8, '\0');
  uint64_t n = hs.size();
  std::memcpy(raw.data(), &n, 8);
  write_raw(raw + hs);
  EXPECT_HAS(load_error(), st() + ": tensor model.norm.weight: header entry has no data_offsets");
}

TEST_F(TempModel, OffsetsThatDisagreeWithShape) {
  entry("model.norm.weight").shape = {65};
  write();
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": tensor model.norm.weight: data_offsets span 256 bytes but shape x F32 needs 260");
}

TEST_F(TempModel, WrongShapeNamesTensorAndBothShapes) {
  entry("model.layers.2.self_attn.k_proj.weight").shape = {16, 128};  // same bytes, transposed
  write();
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": tensor model.layers.2.self_attn.k_proj.weight: shape [16, 128], expected [32, 64]");
}

TEST_F(TempModel, MissingTensor) {
  std::erase_if(entries, [](const Entry& e) { return e.name == "model.layers.5.mlp.up_proj.weight"; });
  write();
  std::string m = load_error();
  EXPECT_HAS(m, st() + ": tensor model.layers.5.mlp.up_proj.weight missing");
}

TEST_F(TempModel, UnexpectedTensor) {
  entries.push_back({"model.layers.0.self_attn.q_norm.weight", "F32", {16}, std::string(64, '\0')});
  write();
  EXPECT_HAS(load_error(), st() + ": tensor model.layers.0.self_attn.q_norm.weight: unexpected");
}

TEST_F(TempModel, UnsupportedDtype) {
  entries.push_back({"model.norm.weight_scale", "I8", {4}, std::string(4, '\0')});
  write();
  EXPECT_HAS(load_error(), st() + ": tensor model.norm.weight_scale: unsupported dtype I8");
}

TEST_F(TempModel, OverlappingTensors) {
  write();
  // Point two tensors at the same bytes by rewriting one header entry's offsets.
  std::ifstream in(st(), std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), {});
  uint64_t n = 0;
  std::memcpy(&n, raw.data(), 8);
  nlohmann::json h = nlohmann::json::parse(raw.substr(8, n));
  h["model.layers.1.input_layernorm.weight"]["data_offsets"] = h["model.layers.0.input_layernorm.weight"]["data_offsets"];
  std::string hs = h.dump();
  uint64_t n2 = hs.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n2, 8);
  write_raw(out + hs + raw.substr(8 + n));
  EXPECT_HAS(load_error(), "input_layernorm.weight: data_offsets overlap tensor model.layers.");
}

TEST_F(TempModel, ModelTypeLlamaNamesConfigField) {
  std::ifstream in(dir + "/config.json");
  nlohmann::json c = nlohmann::json::parse(in);
  c["model_type"] = "llama";
  std::ofstream(dir + "/config.json") << c.dump();
  write();
  std::string m = load_error(TANDEM_STATUS_UNSUPPORTED);
  EXPECT_HAS(m, dir + "/config.json: field model_type: \"llama\"");
}

TEST_F(TempModel, MissingConfigFile) {
  fs::remove(dir + "/config.json");
  EXPECT_HAS(load_error(TANDEM_STATUS_NOT_FOUND), dir + "/config.json: cannot open");
}

// --- sharded checkpoints --------------------------------------------------------------------

class TempSharded : public TempModel {
 protected:
  // Splits the tensors over two shards and writes the index (optionally edited first).
  void write_sharded(const std::function<void(nlohmann::json&)>& edit = nullptr) {
    std::vector<Entry> a, b;
    nlohmann::json wm = nlohmann::json::object();
    for (size_t i = 0; i < entries.size(); i++) {
      (i % 2 ? b : a).push_back(entries[i]);
      wm[entries[i].name] = i % 2 ? "b.safetensors" : "a.safetensors";
    }
    write_safetensors(dir + "/a.safetensors", a);
    write_safetensors(dir + "/b.safetensors", b);
    nlohmann::json idx = {{"metadata", {{"total_size", 0}}}, {"weight_map", wm}};
    if (edit) edit(idx);
    std::ofstream(dir + "/model.safetensors.index.json") << idx.dump();
  }
  std::string index() const { return dir + "/model.safetensors.index.json"; }
};

TEST_F(TempSharded, LoadsAndGivesTheSameLogitsAsOneFile) {
  write_sharded();
  ASSERT_EQ(load_error(), "");
  std::unique_ptr<Cohere2Model> sharded = Cohere2Model::load(dir);
  std::unique_ptr<Cohere2Model> single = Cohere2Model::load(fixture("cohere2-tiny"));
  std::vector<int32_t> prompt = {5, 17, 200, 383};
  RunOptions o;
  EXPECT_EQ(run_greedy(*sharded, {prompt}, 3, o, nullptr)[0].logits, run_greedy(*single, {prompt}, 3, o, nullptr)[0].logits);
}

TEST_F(TempSharded, ListedTensorMissingFromItsShard) {
  write_sharded([](nlohmann::json& idx) { idx["weight_map"]["model.layers.9.mlp.up_proj.weight"] = "a.safetensors"; });
  std::string m = load_error();
  EXPECT_HAS(m, dir + "/a.safetensors: tensor model.layers.9.mlp.up_proj.weight: listed in " + index());
}

TEST_F(TempSharded, ShardTensorNotListedInIndex) {
  write_sharded([](nlohmann::json& idx) { idx["weight_map"].erase("model.norm.weight"); });
  std::string m = load_error();
  EXPECT_HAS(m, ": tensor model.norm.weight: not listed for this shard in " + index());
}

TEST_F(TempSharded, ShardMissingOnDisk) {
  write_sharded([](nlohmann::json& idx) { idx["weight_map"]["model.norm.weight"] = "c.safetensors"; });
  EXPECT_HAS(load_error(TANDEM_STATUS_NOT_FOUND), dir + "/c.safetensors: cannot open");
}

TEST_F(TempSharded, IndexWithoutWeightMap) {
  write_sharded([](nlohmann::json& idx) { idx.erase("weight_map"); });
  EXPECT_HAS(load_error(), index() + ": field weight_map");
}
