// libFuzzer target: ll::Tokenizer::parse_llama2c on arbitrary bytes, then encode/decode on what parses (scripts/fuzz).
// Input layout: u16 LE vocab_size selector (vocab = 259 + value % 1024), u16 LE text length, the text, then the
// tokenizer.bin bytes. A parsed tokenizer must round-trip any text: llama2.c has a byte token for every byte.
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
  if (size < 4) return 0;
  const int32_t vocab_size = 259 + (data[0] | data[1] << 8) % 1024;
  const size_t text_len = std::min<size_t>(data[2] | data[3] << 8, size - 4);
  const std::string_view text(reinterpret_cast<const char*>(data) + 4, text_len);
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 4 + text_len, size - 4 - text_len);

  auto parsed = ll::Tokenizer::parse_llama2c(bytes, vocab_size);
  if (!parsed.ok()) return 0;
  const ll::Tokenizer& t = *parsed;
  require(t.vocab_size() == vocab_size);
  const std::vector<int32_t> ids = t.encode(text, /*add_bos=*/true);
  require(!ids.empty() && ids[0] == t.bos_id());
  for (int32_t id : ids) require(id >= 0 && id < t.vocab_size());
  for (size_t i = 1; i < ids.size(); ++i) (void)t.decode_piece(ids[i - 1], ids[i]);
  (void)t.decode_piece(-1, vocab_size);  // out of range decodes to ""
  return 0;
}
