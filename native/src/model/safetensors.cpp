// Safetensors reader: each file is mapped read-only (MAP_PRIVATE) and tensors point into the
// mapping, so multi-GB weights are never copied. Layout: 8-byte little-endian header length N,
// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data section; offsets are relative to the data section.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "model/safetensors.h"
#include "util/status.h"

namespace tandem {

using nlohmann::json;

struct SafetensorsCheckpoint::Mapping {
  std::string path;
  const uint8_t* data = nullptr;
  uint64_t size = 0;

  explicit Mapping(const std::string& p) : path(p) {
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      throw Error(e == ENOENT ? TANDEM_STATUS_NOT_FOUND : TANDEM_STATUS_IO_ERROR,
                  p + ": cannot open: " + std::strerror(e));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      int e = errno;
      ::close(fd);
      throw Error(TANDEM_STATUS_IO_ERROR, p + ": stat failed: " + std::strerror(e));
    }
    size = uint64_t(st.st_size);
    if (size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (m == MAP_FAILED) {
        int e = errno;
        ::close(fd);
        throw Error(TANDEM_STATUS_IO_ERROR, p + ": mmap failed: " + std::strerror(e));
      }
      data = static_cast<const uint8_t*>(m);
    }
    ::close(fd);  // the mapping stays valid after close
  }
  ~Mapping() {
    if (data) ::munmap(const_cast<uint8_t*>(data), size);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
};

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& msg) {
  throw Error(TANDEM_STATUS_MODEL_FORMAT, file + ": " + msg);
}

bool parse_dtype(const std::string& s, ops::DType& dt, uint64_t& size) {
  if (s == "F32") dt = ops::DType::F32, size = 4;
  else if (s == "BF16") dt = ops::DType::BF16, size = 2;
  else if (s == "F16") dt = ops::DType::F16, size = 2;
  else return false;
  return true;
}

uint64_t checked_u64(const std::string& file, const std::string& what, const json& v) {
  if (!v.is_number_unsigned()) fail(file, what + ": expected a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

// Parses one file's header and appends its tensors (pointing into the mapping) to `out`.
struct FileBytes {
  const std::string& path;
  const uint8_t* data;
  uint64_t size;
};

void parse_file(const FileBytes& m, std::vector<TensorInfo>& out) {
  const std::string& f = m.path;
  if (m.size < 8) fail(f, "truncated: " + std::to_string(m.size) + " bytes, no 8-byte header length");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | m.data[i];  // little-endian
  if (hlen > m.size - 8)
    fail(f, "truncated: header length " + std::to_string(hlen) + " runs past the end of the file (" +
                std::to_string(m.size) + " bytes)");
  json h;
  try {
    h = json::parse(m.data + 8, m.data + 8 + hlen);
  } catch (const json::parse_error& e) {
    fail(f, std::string("bad header JSON: ") + e.what());
  }
  if (!h.is_object()) fail(f, "bad header JSON: expected an object of tensors");
  const uint8_t* data_start = m.data + 8 + hlen;
  const uint64_t data_size = m.size - 8 - hlen;

  struct Span {
    uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Span> spans;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") {
      if (!it->is_object() && !it->is_null()) fail(f, "__metadata__: expected an object");
      continue;
    }
    const std::string t = "tensor " + name;
    const json& e = *it;
    if (!e.is_object()) fail(f, t + ": header entry is not an object");
    for (const char* k : {"dtype", "shape", "data_offsets"})
      if (!e.contains(k)) fail(f, t + ": header entry has no " + k);
    if (!e["dtype"].is_string()) fail(f, t + ": dtype is not a string");
    TensorInfo ti;
    ti.name = name;
    ti.file = f;
    uint64_t esize = 0;
    const std::string ds = e["dtype"].get<std::string>();
    if (!parse_dtype(ds, ti.dtype, esize)) fail(f, t + ": unsupported dtype " + ds + " (supported: F32, BF16, F16)");
    if (!e["shape"].is_array()) fail(f, t + ": shape is not a list");
    uint64_t count = 1;
    for (const json& d : e["shape"]) {
      uint64_t dim = checked_u64(f, t + ": shape", d);
      if (dim > (uint64_t(1) << 40) || (dim && count > (uint64_t(1) << 62) / dim)) fail(f, t + ": shape too large");
      count *= dim;
      ti.shape.push_back(int64_t(dim));
    }
    const json& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2) fail(f, t + ": data_offsets must be [begin, end]");
    uint64_t b = checked_u64(f, t + ": data_offsets", off[0]), en = checked_u64(f, t + ": data_offsets", off[1]);
    if (b > en) fail(f, t + ": data_offsets begin " + std::to_string(b) + " > end " + std::to_string(en));
    ti.nbytes = en - b;
    if (ti.nbytes != count * esize)
      fail(f, t + ": data_offsets span " + std::to_string(ti.nbytes) + " bytes but shape x " + ds + " needs " +
                  std::to_string(count * esize));
    if (en > data_size)
      fail(f, t + ": truncated: data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                  ") past the end of the data section (" + std::to_string(data_size) + " bytes)");
    ti.data = data_start + b;
    spans.push_back({b, en, &name});
    out.push_back(std::move(ti));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < spans.size(); i++) {
    const Span& prev = spans[i - 1];
    if (spans[i].begin < prev.end && spans[i].begin < spans[i].end && prev.begin < prev.end)
      fail(f, "tensor " + *spans[i].name + ": data_offsets overlap tensor " + *prev.name);
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(TANDEM_STATUS_NOT_FOUND, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

SafetensorsCheckpoint::~SafetensorsCheckpoint() = default;

std::unique_ptr<SafetensorsCheckpoint> SafetensorsCheckpoint::open(const std::string& model_dir) {
  std::unique_ptr<SafetensorsCheckpoint> ck(new SafetensorsCheckpoint());
  const std::string index_path = model_dir + "/model.safetensors.index.json";
  std::vector<TensorInfo> all;

  if (!file_exists(index_path)) {
    ck->source_ = model_dir + "/model.safetensors";
    ck->mappings_.push_back(std::make_unique<Mapping>(ck->source_));
    parse_file({ck->mappings_.back()->path, ck->mappings_.back()->data, ck->mappings_.back()->size}, all);
    for (TensorInfo& t : all) {
      std::string n = t.name;
      ck->tensors_.emplace(std::move(n), std::move(t));
    }
    return ck;
  }

  ck->source_ = index_path;
  json idx;
  try {
    idx = json::parse(read_text(index_path));
  } catch (const json::parse_error& e) {
    fail(index_path, std::string("bad JSON: ") + e.what());
  }
  if (!idx.is_object() || !idx.contains("weight_map") || !idx["weight_map"].is_object())
    fail(index_path, "field weight_map: missing or not an object");
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::set<std::string> shards;
  for (auto it = idx["weight_map"].begin(); it != idx["weight_map"].end(); ++it) {
    if (!it->is_string()) fail(index_path, "tensor " + it.key() + ": weight_map entry is not a file name");
    std::string shard = it->get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..")
      fail(index_path, "tensor " + it.key() + ": shard \"" + shard + "\" must be a plain file name in the model folder");
    weight_map[it.key()] = shard;
    shards.insert(shard);
  }
  // Map every shard first: a missing file is reported as such, not as misplaced tensors.
  for (const std::string& shard : shards) ck->mappings_.push_back(std::make_unique<Mapping>(model_dir + "/" + shard));
  for (const auto& m : ck->mappings_) {
    const std::string shard = m->path.substr(model_dir.size() + 1);
    std::vector<TensorInfo> in_shard;
    parse_file({m->path, m->data, m->size}, in_shard);
    for (TensorInfo& t : in_shard) {
      auto w = weight_map.find(t.name);
      if (w == weight_map.end() || w->second != shard)
        fail(t.file, "tensor " + t.name + ": not listed for this shard in " + index_path +
                         (w == weight_map.end() ? "" : " (listed in " + w->second + ")"));
      std::string n = t.name;
      ck->tensors_.emplace(std::move(n), std::move(t));
    }
  }
  for (const auto& [name, shard] : weight_map)
    if (!ck->tensors_.count(name))
      fail(model_dir + "/" + shard, "tensor " + name + ": listed in " + index_path + " but missing from the shard");
  return ck;
}

const TensorInfo& SafetensorsCheckpoint::get(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail(source_, "tensor " + name + " missing");
  return it->second;
}

uint64_t SafetensorsCheckpoint::mapped_bytes() const {
  uint64_t n = 0;
  for (const auto& m : mappings_) n += m->size;
  return n;
}

}  // namespace tandem
