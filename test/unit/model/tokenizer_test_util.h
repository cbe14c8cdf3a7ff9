// Helpers shared by the tokenizer tests: locating test data (via LL_SOURCE_DIR, set by CTest) and building llama2.c
// tokenizer.bin images in memory. Test-only; not thread-safe (Catch2 runs tests sequentially).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ll::test {

// $LL_SOURCE_DIR/<relative>; FAILs (never skips) when the variable or the file is missing.
inline std::string source_file(const std::string& relative) {
  const char* root = std::getenv("LL_SOURCE_DIR");
  if (root == nullptr || *root == '\0') {
    FAIL("LL_SOURCE_DIR is not set: run through ctest, or export LL_SOURCE_DIR=<the lingualinked checkout>");
  }
  const std::string path = std::string(root) + "/" + relative;
  if (!std::ifstream(path, std::ios::binary)) FAIL("missing test file: " << path);
  return path;
}

// The real 512-token tokenizer of stories260K, kept beside the project (../shared/models/README.md).
inline std::string tok512_path() { return source_file("../shared/models/tok512.bin"); }
inline std::string stories260k_path() { return source_file("../shared/models/stories260K.bin"); }

inline void append_i32(std::string& out, int32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
inline void append_f32(std::string& out, float v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }

// A llama2.c tokenizer.bin image: <unk>, <s>, </s>, the 256 byte pieces (score 0), then `extra` (piece, score).
inline std::string make_llama2c_tokenizer(const std::vector<std::pair<std::string, float>>& extra,
                                          int32_t max_token_length = 16) {
  std::vector<std::pair<std::string, float>> all = {{"<unk>", 0.f}, {"\n<s>\n", 0.f}, {"\n</s>\n", 0.f}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    all.emplace_back(name, 0.f);
  }
  all.insert(all.end(), extra.begin(), extra.end());
  std::string out;
  append_i32(out, max_token_length);
  for (const auto& [piece, score] : all) {
    append_f32(out, score);
    append_i32(out, static_cast<int32_t>(piece.size()));
    out += piece;
  }
  return out;
}

inline int32_t vocab_size_of(const std::vector<std::pair<std::string, float>>& extra) {
  return 259 + static_cast<int32_t>(extra.size());
}

}  // namespace ll::test
