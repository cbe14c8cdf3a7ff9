// libFuzzer target: ll::Tokenizer::parse_hf on arbitrary bytes, then encode/decode on what parses (scripts/fuzz).
// Input layout: tokenizer.json text, optionally followed by a NUL byte and a text to encode with it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "model/tokenizer.h"

namespace {

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view json = input.substr(0, nul);
  const std::string_view text =
      nul == std::string_view::npos ? std::string_view("Once upon a time") : input.substr(nul + 1);

  auto parsed = ll::Tokenizer::parse_hf(json);
  if (!parsed.ok()) return 0;
  const ll::Tokenizer& t = *parsed;
  require(t.vocab_size() > 0 && t.bos_id() >= 0 && t.bos_id() < t.vocab_size());
  for (bool bos : {false, true}) {
    const std::vector<int32_t> ids = t.encode(text, bos);
    for (int32_t id : ids) require(id >= 0 && id < t.vocab_size());
    int32_t prev = bos ? t.bos_id() : -1;
    for (int32_t id : ids) {
      (void)t.decode_piece(prev, id);
      (void)t.score(id);
      require(t.piece_to_id(t.id_to_piece(id)) >= 0);
      prev = id;
    }
  }
  return 0;
}
