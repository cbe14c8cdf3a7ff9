// libFuzzer target: ll::parse_manifest on arbitrary bytes (scripts/fuzz builds and runs it). Malformed input must
// come back as an error value; a manifest that parses must hold the invariants manifest.h promises, else we abort.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "model/manifest.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parsed = ll::parse_manifest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!parsed.ok()) {
    require(!parsed.error().empty());
    return 0;
  }
  const ll::Manifest& m = *parsed;
  const int n = static_cast<int>(m.shards.size());
  require(n >= 3 && n - 2 == m.hparams.n_layers);
  require(m.shards.front().kind == ll::ShardKind::kEmbed && m.shards.back().kind == ll::ShardKind::kHead);
  require(m.hparams.n_heads > 0 && m.hparams.dim % m.hparams.n_heads == 0);
  require(ll::is_safe_file_name(m.tokenizer.file));
  require(m.tokenizer.bos_id < m.hparams.vocab_size && m.tokenizer.eos_id < m.hparams.vocab_size);
  for (int i = 0; i < n; ++i) {
    require(m.shards[i].id == i && ll::is_safe_file_name(m.shards[i].file));
    require(m.shards[i].file.find('/') == std::string::npos && m.shards[i].file.find("..") != 0);
  }
  for (const auto& e : m.transmission_map) {
    require(e.consumer >= 0 && e.consumer < n);
    require(e.producer == ll::TransmissionEdge::kHeadStage || (e.producer >= 0 && e.producer < e.consumer));
  }
  (void)m.total_weight_bytes();
  return 0;
}
