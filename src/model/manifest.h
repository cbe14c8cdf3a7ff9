// The model package manifest (docs/model-package.md): parsed from untrusted JSON and validated before any field is
// used. A Manifest that parse_manifest() returned is internally consistent (shard order, kinds, safe file names,
// transmission map). Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lingualinked/result.h"

namespace ll {

enum class ShardKind { kEmbed, kBlock, kHead };
const char* shard_kind_name(ShardKind kind);

struct Hyperparameters {
  int dim = 0;
  int hidden_dim = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int vocab_size = 0;
  int context_length = 0;
  double norm_eps = 1e-5;
  double rope_theta = 10000.0;
  int head_dim() const { return n_heads > 0 ? dim / n_heads : 0; }
};

struct TokenizerInfo {
  std::string file;
  std::string format;  // "llama2c" | "hf"
  std::string sha256;
  int bos_id = 1;
  int eos_id = 2;
};

struct ShardInfo {
  int id = 0;
  ShardKind kind = ShardKind::kBlock;
  int layer = -1;  // transformer layer for blocks, -1 otherwise
  std::string file;
  std::string sha256;
  uint64_t file_bytes = 0;  // size of the .ptl on disk
  uint64_t bytes = 0;       // weight bytes held in memory
  double flops_per_token = 0;
  uint64_t out_bytes_per_token = 0;
  uint64_t kv_bytes_per_token = 0;
  std::string weight_dtype = "float32";  // the package's weight type (a shard naming another is refused)
};

// One edge of the transmission map: shard `consumer` reads `tensor`, produced by shard `producer`
// (kHeadStage: produced by the head stage itself — token ids and positions).
struct TransmissionEdge {
  static constexpr int kHeadStage = -1;
  int consumer = 0;
  std::string tensor;
  int producer = kHeadStage;
};

struct Manifest {
  int format_version = 0;
  std::string name;
  std::string architecture;
  std::string dtype;                           // weights and activations inside a shard: "float32"
  std::string wire_dtype;                      // what out_bytes_per_token assumes: "float32" | "float16"
  std::string weight_dtype = "float32";        // "float32" | "int8" (linear layers and the embedding table)
  std::vector<std::string> quantized_engines;  // int8: the torch quantized engines the shards run on
  Hyperparameters hparams;
  TokenizerInfo tokenizer;
  std::vector<ShardInfo> shards;
  std::vector<TransmissionEdge> transmission_map;

  uint64_t total_weight_bytes() const;
};

// Parses and validates manifest JSON. Errors name the offending field.
[[nodiscard]] Result<Manifest> parse_manifest(std::string_view json_text);

// Reads DIR/manifest.json (bounded size) and parses it.
[[nodiscard]] Result<Manifest> load_manifest(const std::string& package_dir);

// True if `name` is a plain file name that cannot leave its folder (no '/', no '..', no leading '.', printable).
[[nodiscard]] bool is_safe_file_name(std::string_view name);

// Checks a shard file's size and sha256 against the manifest.
[[nodiscard]] Status verify_file(const std::string& path, uint64_t expected_bytes, const std::string& expected_sha256);

}  // namespace ll
