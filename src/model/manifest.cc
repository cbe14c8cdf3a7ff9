#include "model/manifest.h"

#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/json_depth.h"
#include "common/sha256.h"
#include "model/model_limits.h"

namespace ll {
namespace {

using json = nlohmann::json;

// Typed field readers: each returns an error naming the field when it is missing or of the wrong type/range.
Result<int64_t> get_int(const json& object, const char* key, int64_t lo, int64_t hi, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer())
    return make_error(where + "." + key + ": missing or not an integer");
  int64_t value = it->get<int64_t>();
  if (value < lo || value > hi) {
    return make_error(where + "." + key + ": " + std::to_string(value) + " out of range [" + std::to_string(lo) + ", " +
                      std::to_string(hi) + "]");
  }
  return value;
}

Result<uint64_t> get_u64(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned()) {
    if (it != object.end() && it->is_number_integer() && it->get<int64_t>() >= 0) return it->get<uint64_t>();
    return make_error(where + "." + key + ": missing or not a non-negative integer");
  }
  return it->get<uint64_t>();
}

Result<double> get_double(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return make_error(where + "." + key + ": missing or not a number");
  double value = it->get<double>();
  if (!(value >= 0) || value > 1e30) return make_error(where + "." + key + ": out of range");
  return value;
}

Result<std::string> get_string(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return make_error(where + "." + key + ": missing or not a string");
  return it->get<std::string>();
}

// A manifest nests three levels deep. Deeper JSON is refused before parsing: nlohmann::json copies and compares
// recursively, so a 4 MiB manifest of nested brackets would otherwise overflow the stack.
constexpr int kMaxManifestJsonDepth = 16;

// The member `key` of an object, or null (no copy, unlike json::value()).
const json& member_or_null(const json& object, const char* key) {
  static const json null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

bool is_hex_sha256(const std::string& text) {
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<ShardKind> parse_kind(const std::string& text, const std::string& where) {
  if (text == "embed") return ShardKind::kEmbed;
  if (text == "block") return ShardKind::kBlock;
  if (text == "head") return ShardKind::kHead;
  return make_error(where + ".kind: unknown kind '" + text + "' (expected embed, block or head)");
}

Result<Hyperparameters> parse_hparams(const json& object) {
  if (!object.is_object()) return make_error("hyperparameters: missing or not an object");
  const std::string w = "hyperparameters";
  Hyperparameters h;
  LL_ASSIGN_OR_RETURN(h.dim, get_int(object, "dim", 1, limits::kMaxDim, w));
  LL_ASSIGN_OR_RETURN(h.hidden_dim, get_int(object, "hidden_dim", 1, 1 << 20, w));
  LL_ASSIGN_OR_RETURN(h.n_layers, get_int(object, "n_layers", 1, limits::kMaxShards - 2, w));
  LL_ASSIGN_OR_RETURN(h.n_heads, get_int(object, "n_heads", 1, 4096, w));
  LL_ASSIGN_OR_RETURN(h.n_kv_heads, get_int(object, "n_kv_heads", 1, 4096, w));
  LL_ASSIGN_OR_RETURN(h.vocab_size, get_int(object, "vocab_size", 1, limits::kMaxVocab, w));
  LL_ASSIGN_OR_RETURN(h.context_length, get_int(object, "context_length", 1, limits::kMaxContext, w));
  LL_ASSIGN_OR_RETURN(h.norm_eps, get_double(object, "norm_eps", w));
  LL_ASSIGN_OR_RETURN(h.rope_theta, get_double(object, "rope_theta", w));
  if (h.dim % h.n_heads != 0) return make_error("hyperparameters: dim is not a multiple of n_heads");
  if (h.n_heads % h.n_kv_heads != 0) return make_error("hyperparameters: n_heads is not a multiple of n_kv_heads");
  return h;
}

Result<ShardInfo> parse_shard(const json& object, int index, const std::string& package_weight_dtype) {
  const std::string w = "shards[" + std::to_string(index) + "]";
  if (!object.is_object()) return make_error(w + ": not an object");
  ShardInfo s;
  LL_ASSIGN_OR_RETURN(s.id, get_int(object, "id", 0, limits::kMaxShards, w));
  if (s.id != index) return make_error(w + ".id: expected " + std::to_string(index) + " (shards are listed in order)");
  LL_ASSIGN_OR_RETURN(std::string kind, get_string(object, "kind", w));
  LL_ASSIGN_OR_RETURN(s.kind, parse_kind(kind, w));
  LL_ASSIGN_OR_RETURN(s.file, get_string(object, "file", w));
  if (!is_safe_file_name(s.file)) return make_error(w + ".file: unsafe file name '" + s.file + "'");
  LL_ASSIGN_OR_RETURN(s.sha256, get_string(object, "sha256", w));
  if (!is_hex_sha256(s.sha256)) return make_error(w + ".sha256: not 64 lower-case hex digits");
  LL_ASSIGN_OR_RETURN(s.file_bytes, get_u64(object, "file_bytes", w));
  LL_ASSIGN_OR_RETURN(s.bytes, get_u64(object, "bytes", w));
  LL_ASSIGN_OR_RETURN(s.flops_per_token, get_double(object, "flops_per_token", w));
  LL_ASSIGN_OR_RETURN(s.out_bytes_per_token, get_u64(object, "out_bytes_per_token", w));
  LL_ASSIGN_OR_RETURN(s.kv_bytes_per_token, get_u64(object, "kv_bytes_per_token", w));
  if (s.kind == ShardKind::kBlock) {
    LL_ASSIGN_OR_RETURN(s.layer, get_int(object, "layer", 0, limits::kMaxShards, w));
  }
  if (object.contains("weight_dtype")) {
    LL_ASSIGN_OR_RETURN(s.weight_dtype, get_string(object, "weight_dtype", w));
    if (s.weight_dtype != package_weight_dtype) {
      return make_error(w + ".weight_dtype: '" + s.weight_dtype.substr(0, 16) + "' in a package of " +
                        package_weight_dtype + " weights (a package that mixes weight types is refused)");
    }
  }
  s.weight_dtype = package_weight_dtype;
  return s;
}

// weight_dtype: optional, "float32" when absent.
Result<std::string> parse_weight_dtype(const json& root) {
  if (!root.contains("weight_dtype")) return std::string("float32");
  LL_ASSIGN_OR_RETURN(std::string dtype, get_string(root, "weight_dtype", "manifest"));
  if (dtype != "float32" && dtype != "int8") {
    return make_error("manifest.weight_dtype: unsupported weight type '" + dtype.substr(0, 16) + "' (float32 or int8)");
  }
  return dtype;
}

// An int8 package names the torch quantized engines its shards run on (the runtime refuses it when it has none).
Result<std::vector<std::string>> parse_quantized_engines(const json& root, const std::string& weight_dtype) {
  std::vector<std::string> names;
  if (weight_dtype != "int8") return names;
  const json& engines = member_or_null(root, "quantized_engines");
  if (!engines.is_array() || engines.empty() || engines.size() > 8) {
    return make_error("manifest.quantized_engines: an int8 package names 1..8 quantized engines");
  }
  for (const json& engine : engines) {
    if (!engine.is_string() || engine.get<std::string>().empty() || engine.get<std::string>().size() > 32) {
      return make_error("manifest.quantized_engines: each engine is a name of 1..32 characters");
    }
    names.push_back(engine.get<std::string>());
  }
  return names;
}

Result<TransmissionEdge> parse_edge(const json& object, size_t index, int n_shards) {
  const std::string w = "transmission_map[" + std::to_string(index) + "]";
  if (!object.is_object()) return make_error(w + ": not an object");
  TransmissionEdge e;
  LL_ASSIGN_OR_RETURN(e.consumer, get_int(object, "consumer", 0, n_shards - 1, w));
  LL_ASSIGN_OR_RETURN(e.tensor, get_string(object, "tensor", w));
  auto producer = object.find("producer");
  if (producer != object.end() && producer->is_string() && producer->get<std::string>() == "head_stage") {
    e.producer = TransmissionEdge::kHeadStage;
  } else {
    LL_ASSIGN_OR_RETURN(e.producer, get_int(object, "producer", 0, n_shards - 1, w));
    if (e.producer >= e.consumer) return make_error(w + ".producer: must come before its consumer");
  }
  return e;
}

}  // namespace

const char* shard_kind_name(ShardKind kind) {
  switch (kind) {
    case ShardKind::kEmbed:
      return "embed";
    case ShardKind::kBlock:
      return "block";
    case ShardKind::kHead:
      return "head";
  }
  return "?";
}

uint64_t Manifest::total_weight_bytes() const {
  uint64_t total = 0;
  for (const auto& s : shards) total += s.bytes;
  return total;
}

bool is_safe_file_name(std::string_view name) {
  if (name.empty() || name.size() > static_cast<size_t>(limits::kMaxFileNameLength)) return false;
  if (name[0] == '.') return false;  // also rejects "." and ".."
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

Result<Manifest> parse_manifest(std::string_view json_text) {
  if (json_text.size() > limits::kMaxManifestBytes) return make_error("manifest: larger than the 4 MiB limit");
  if (json_nesting_depth(json_text) > kMaxManifestJsonDepth) {
    return make_error("manifest: JSON nests deeper than " + std::to_string(kMaxManifestJsonDepth) + " levels");
  }
  json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return make_error("manifest: not valid JSON");
  if (!root.is_object()) return make_error("manifest: top level is not an object");
  Manifest m;
  LL_ASSIGN_OR_RETURN(std::string format, get_string(root, "format", "manifest"));
  if (format != "lingualinked-model") return make_error("manifest.format: expected 'lingualinked-model'");
  LL_ASSIGN_OR_RETURN(m.format_version, get_int(root, "format_version", 0, 1 << 20, "manifest"));
  if (m.format_version != limits::kManifestFormatVersion) {
    return make_error("manifest.format_version: " + std::to_string(m.format_version) +
                      " is not supported (this build reads " + std::to_string(limits::kManifestFormatVersion) + ")");
  }
  LL_ASSIGN_OR_RETURN(m.name, get_string(root, "name", "manifest"));
  LL_ASSIGN_OR_RETURN(m.architecture, get_string(root, "architecture", "manifest"));
  if (m.architecture != "llama")
    return make_error("manifest.architecture: unsupported architecture '" + m.architecture + "'");
  LL_ASSIGN_OR_RETURN(m.dtype, get_string(root, "dtype", "manifest"));
  if (m.dtype != "float32") return make_error("manifest.dtype: unsupported dtype '" + m.dtype + "'");
  LL_ASSIGN_OR_RETURN(m.wire_dtype, get_string(root, "wire_dtype", "manifest"));
  if (m.wire_dtype != "float32" && m.wire_dtype != "float16") return make_error("manifest.wire_dtype: unsupported");
  LL_ASSIGN_OR_RETURN(m.weight_dtype, parse_weight_dtype(root));
  LL_ASSIGN_OR_RETURN(m.quantized_engines, parse_quantized_engines(root, m.weight_dtype));
  LL_ASSIGN_OR_RETURN(m.hparams, parse_hparams(member_or_null(root, "hyperparameters")));

  const json& tok = member_or_null(root, "tokenizer");
  if (!tok.is_object()) return make_error("manifest.tokenizer: missing or not an object");
  LL_ASSIGN_OR_RETURN(m.tokenizer.file, get_string(tok, "file", "tokenizer"));
  if (!is_safe_file_name(m.tokenizer.file)) return make_error("tokenizer.file: unsafe file name");
  LL_ASSIGN_OR_RETURN(m.tokenizer.format, get_string(tok, "format", "tokenizer"));
  if (m.tokenizer.format != "llama2c" && m.tokenizer.format != "hf") return make_error("tokenizer.format: unknown");
  LL_ASSIGN_OR_RETURN(m.tokenizer.sha256, get_string(tok, "sha256", "tokenizer"));
  if (!is_hex_sha256(m.tokenizer.sha256)) return make_error("tokenizer.sha256: not 64 lower-case hex digits");
  LL_ASSIGN_OR_RETURN(m.tokenizer.bos_id, get_int(tok, "bos_id", -1, m.hparams.vocab_size - 1, "tokenizer"));
  LL_ASSIGN_OR_RETURN(m.tokenizer.eos_id, get_int(tok, "eos_id", -1, m.hparams.vocab_size - 1, "tokenizer"));

  const json& shards = member_or_null(root, "shards");
  if (!shards.is_array()) return make_error("manifest.shards: missing or not an array");
  if (shards.size() < 3 || shards.size() > static_cast<size_t>(limits::kMaxShards)) {
    return make_error("manifest.shards: expected 3.." + std::to_string(limits::kMaxShards) + " shards");
  }
  for (size_t i = 0; i < shards.size(); ++i) {
    LL_ASSIGN_OR_RETURN(ShardInfo s, parse_shard(shards[i], static_cast<int>(i), m.weight_dtype));
    m.shards.push_back(std::move(s));
  }
  // Shape of the sequence: embed, blocks for layers 0..L-1 in order, head.
  const int n = static_cast<int>(m.shards.size());
  if (m.shards.front().kind != ShardKind::kEmbed)
    return make_error("manifest.shards: the first shard must be the embedding");
  if (m.shards.back().kind != ShardKind::kHead) return make_error("manifest.shards: the last shard must be the head");
  if (n - 2 != m.hparams.n_layers) return make_error("manifest.shards: block count does not match n_layers");
  for (int i = 1; i < n - 1; ++i) {
    if (m.shards[i].kind != ShardKind::kBlock || m.shards[i].layer != i - 1) {
      return make_error("manifest.shards[" + std::to_string(i) + "]: expected block for layer " +
                        std::to_string(i - 1));
    }
  }

  const json& edges = member_or_null(root, "transmission_map");
  if (!edges.is_array() || edges.size() > static_cast<size_t>(8 * limits::kMaxShards)) {
    return make_error("manifest.transmission_map: missing or not an array");
  }
  std::vector<bool> has_input(n, false);
  for (size_t i = 0; i < edges.size(); ++i) {
    LL_ASSIGN_OR_RETURN(TransmissionEdge e, parse_edge(edges[i], i, n));
    has_input[e.consumer] = true;
    m.transmission_map.push_back(std::move(e));
  }
  for (int i = 0; i < n; ++i) {
    if (!has_input[i]) return make_error("manifest.transmission_map: shard " + std::to_string(i) + " has no input");
  }
  return m;
}

Result<Manifest> load_manifest(const std::string& package_dir) {
  const std::string path = package_dir + "/manifest.json";
  struct stat st {};
  if (::stat(package_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return make_error("model package '" + package_dir + "' is not a folder");
  }
  if (::stat(path.c_str(), &st) != 0) return make_error("model package '" + package_dir + "' has no manifest.json");
  if (static_cast<uint64_t>(st.st_size) > limits::kMaxManifestBytes) return make_error(path + ": larger than 4 MiB");
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto manifest = parse_manifest(buffer.str());
  if (!manifest) return make_error(path + ": " + manifest.error());
  return manifest;
}

Status verify_file(const std::string& path, uint64_t expected_bytes, const std::string& expected_sha256) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(path + ": missing");
  if (static_cast<uint64_t>(st.st_size) != expected_bytes) {
    return make_error(path + ": size " + std::to_string(st.st_size) + " bytes, manifest says " +
                      std::to_string(expected_bytes) +
                      (static_cast<uint64_t>(st.st_size) < expected_bytes ? " (truncated)" : ""));
  }
  LL_ASSIGN_OR_RETURN(std::string digest, sha256_file_hex(path));
  if (digest != expected_sha256) return make_error(path + ": sha256 mismatch (file is corrupt or was replaced)");
  return Status::Ok();
}

}  // namespace ll
