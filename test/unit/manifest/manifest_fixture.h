// A small valid manifest (embed, two blocks, head of a dim-8 model) that the manifest tests alter one field at a
// time. Header-only, for test/unit/manifest/ only.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace ll::test {

using nlohmann::json;

inline json shard(int id, const char* kind, int layer = -1) {
  json s = {{"id", id},
            {"kind", kind},
            {"file", "s" + std::to_string(id) + ".ptl"},
            {"sha256", std::string(64, 'a')},
            {"file_bytes", 10},
            {"bytes", 8},
            {"flops_per_token", 100.0},
            {"out_bytes_per_token", 16},
            {"kv_bytes_per_token", 0}};
  if (layer >= 0) s["layer"] = layer;
  return s;
}

inline json valid_manifest() {
  json m = {{"format", "lingualinked-model"},
            {"format_version", 1},
            {"name", "t"},
            {"architecture", "llama"},
            {"dtype", "float32"},
            {"wire_dtype", "float32"},
            {"hyperparameters",
             {{"dim", 8},
              {"hidden_dim", 16},
              {"n_layers", 2},
              {"n_heads", 2},
              {"n_kv_heads", 1},
              {"vocab_size", 300},
              {"context_length", 32},
              {"norm_eps", 1e-5},
              {"rope_theta", 10000.0}}},
            {"tokenizer",
             {{"file", "tokenizer.bin"},
              {"format", "llama2c"},
              {"sha256", std::string(64, 'b')},
              {"bos_id", 1},
              {"eos_id", 2}}},
            {"shards", {shard(0, "embed"), shard(1, "block", 0), shard(2, "block", 1), shard(3, "head")}},
            {"transmission_map",
             {{{"consumer", 0}, {"tensor", "tokens"}, {"producer", "head_stage"}},
              {{"consumer", 1}, {"tensor", "hidden"}, {"producer", 0}},
              {{"consumer", 2}, {"tensor", "hidden"}, {"producer", 1}},
              {{"consumer", 3}, {"tensor", "hidden"}, {"producer", 2}}}}};
  return m;
}

}  // namespace ll::test
