// libFuzzer target: ll::Tokenizer::encode of arbitrary text on a valid llama2.c tokenizer (scripts/fuzz).
// The tokenizer is test/fuzz/data/tokenizer.bin (vocab 300, from the synthetic "odd" test model); LL_FUZZ_TOKENIZER
// overrides its path. Every byte has a byte token, so the ids must decode to the text (up to its first NUL).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "model/tokenizer.h"

#ifndef LL_SOURCE_DIR
#define LL_SOURCE_DIR "."
#endif

namespace {

std::optional<ll::Tokenizer> g_tokenizer;

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* env = std::getenv("LL_FUZZ_TOKENIZER");
  const std::string path = env != nullptr ? env : LL_SOURCE_DIR "/test/fuzz/data/tokenizer.bin";
  const int32_t vocab = std::getenv("LL_FUZZ_VOCAB") != nullptr ? std::atoi(std::getenv("LL_FUZZ_VOCAB")) : 300;
  auto loaded = ll::Tokenizer::load_llama2c(path, vocab);
  if (!loaded.ok()) {
    std::fprintf(stderr, "fuzz_tokenizer_encode: %s\n", loaded.error().c_str());
    std::exit(1);
  }
  g_tokenizer.emplace(std::move(*loaded));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const ll::Tokenizer& t = *g_tokenizer;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  text = text.substr(0, text.find('\0'));
  const std::vector<int32_t> ids = t.encode(text, /*add_bos=*/true);
  require(!ids.empty() && ids[0] == t.bos_id());
  // Decoded without the after-BOS rule (prev -1), the pieces spell the dummy prefix " " and then the text. (With it,
  // a prefix that fell back to the byte token <0x20> would keep its space, exactly as in run.c.)
  std::string decoded;
  for (size_t i = 1; i < ids.size(); ++i) {
    require(ids[i] >= 0 && ids[i] < t.vocab_size());
    decoded += t.decode_piece(-1, ids[i]);
    (void)t.decode_piece(ids[i - 1], ids[i]);
  }
  const std::string expected = text.empty() ? std::string() : " " + std::string(text);
  if (decoded != expected) {
    std::fprintf(stderr, "round trip differs: %zu bytes in, %zu bytes out\n", expected.size(), decoded.size());
    std::abort();
  }
  return 0;
}
