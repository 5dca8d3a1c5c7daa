// Memory-mapped safetensors checkpoints: a single model.safetensors or shards listed in
// model.safetensors.index.json. Headers are parsed with checked parsing; a truncated file, a bad
// header, overlapping or out-of-range offsets are Error(MODEL_FORMAT) naming file and tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace tandem {

struct TensorInfo {
  std::string name;
  std::string file;       // path of the shard holding it
  ops::DType dtype;
  std::vector<int64_t> shape;
  const void* data;       // into the mapping
  uint64_t nbytes;
};

class SafetensorsCheckpoint {
 public:
  // Opens <dir>/model.safetensors.index.json if present, else <dir>/model.safetensors.
  static std::unique_ptr<SafetensorsCheckpoint> open(const std::string& model_dir);
  ~SafetensorsCheckpoint();

  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  // Throws Error(MODEL_FORMAT) "<file>: tensor <name> ..." when missing.
  const TensorInfo& get(const std::string& name) const;
  uint64_t mapped_bytes() const;
  // The file errors about the checkpoint as a whole name: the index json or model.safetensors.
  const std::string& source() const { return source_; }

 private:
  SafetensorsCheckpoint() = default;
  struct Mapping;
  std::vector<std::unique_ptr<Mapping>> mappings_;
  std::map<std::string, TensorInfo> tensors_;
  std::string source_;
};

}  // namespace tandem
