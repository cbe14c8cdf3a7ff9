// Tokenizer: text <-> token ids for Llama-family models. Two on-disk formats:
//   - llama2.c tokenizer.bin (SentencePiece-style BPE by score; encode() reproduces llama2.c run.c's encode() exactly);
//   - Hugging Face Llama tokenizer.json (BPE with merges, byte_fallback, "▁" metaspace; encode() merges by rank).
// Both are parsed from untrusted bytes and validated before anything is allocated from their sizes.
// Thread-safety: a Tokenizer is immutable after loading; all const methods may be called concurrently.
// TextStreamer is a small single-threaded helper (one per output stream).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lingualinked/result.h"

namespace ll {

class Tokenizer {
 public:
  enum class Format { kLlama2c, kHuggingFace };

  // llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 byte length, the bytes.
  // Exactly `vocab_size` tokens must be present (the model's vocab size); trailing bytes are rejected.
  [[nodiscard]] static Result<Tokenizer> load_llama2c(const std::string& path, int32_t vocab_size);
  [[nodiscard]] static Result<Tokenizer> parse_llama2c(std::string_view bytes, int32_t vocab_size);

  // Hugging Face tokenizer.json of the Llama kind (model.type "BPE").
  [[nodiscard]] static Result<Tokenizer> load_hf(const std::string& path);
  [[nodiscard]] static Result<Tokenizer> parse_hf(std::string_view json_text);

  // Token ids for `text`, optionally preceded by BOS. Text ends at its first NUL byte (as with run.c's C strings).
  // Control-token spellings such as "</s>" in the text are encoded as plain text, never as control tokens.
  [[nodiscard]] std::vector<int32_t> encode(std::string_view text, bool add_bos) const;

  // The text of `token` following `prev_token`, like run.c's decode(): the leading space is dropped right after BOS,
  // and byte pieces "<0xXX>" become that raw byte. Out-of-range tokens decode to "".
  [[nodiscard]] std::string decode_piece(int32_t prev_token, int32_t token) const;

  // The stored piece of `id` (spaces for "▁"), or "" if out of range.
  [[nodiscard]] std::string_view id_to_piece(int32_t id) const;
  // The id of an exact piece, or -1.
  [[nodiscard]] int32_t piece_to_id(std::string_view piece) const;
  // The llama2.c score of `id` (for Hugging Face tokenizers: minus the merge rank that creates it, 0 otherwise).
  [[nodiscard]] float score(int32_t id) const;

  [[nodiscard]] Format format() const { return format_; }
  [[nodiscard]] int32_t vocab_size() const { return static_cast<int32_t>(pieces_.size()); }
  [[nodiscard]] int32_t bos_id() const { return bos_id_; }
  [[nodiscard]] int32_t eos_id() const { return eos_id_; }
  [[nodiscard]] int32_t unk_id() const { return unk_id_; }  // -1 if none

 private:
  Tokenizer() = default;

  struct MergeCandidate {
    double priority;  // higher merges first
    int32_t merged;
  };
  // The initial symbols of `text`: one per codepoint, or its byte / unk fallback.
  [[nodiscard]] std::vector<int32_t> split_symbols(std::string_view text) const;
  // Greedy BPE over `symbols`: repeatedly merges the highest-priority adjacent pair, leftmost on ties.
  [[nodiscard]] std::vector<int32_t> merge(const std::vector<int32_t>& symbols) const;
  // How (left, right) merge: by the score of their concatenation (llama2.c) or by merge rank (Hugging Face).
  [[nodiscard]] std::optional<MergeCandidate> find_merge(int32_t left, int32_t right) const;
  // Builds piece_ids_ from pieces_ (first id wins on duplicates).
  void index_pieces();

  Format format_ = Format::kLlama2c;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> piece_ids_;  // first id wins on duplicates
  std::unordered_map<uint64_t, int64_t> merge_ranks_;   // HF: (left << 32 | right) -> rank << 32 | merged id
  std::array<int32_t, 256> byte_ids_{};                 // byte-fallback id per byte, -1 if none
  int32_t bos_id_ = 1;
  int32_t eos_id_ = 2;
  int32_t unk_id_ = 0;
  bool add_dummy_prefix_ = true;  // prepend " " to non-empty text
  bool split_words_ = false;      // HF Metaspace split: merges never cross a word start (" ")
  bool fuse_unk_ = false;
};

[[nodiscard]] inline Result<Tokenizer> load_llama2c_tokenizer(const std::string& path, int32_t vocab_size) {
  return Tokenizer::load_llama2c(path, vocab_size);
}
[[nodiscard]] inline Result<Tokenizer> load_hf_tokenizer(const std::string& path) { return Tokenizer::load_hf(path); }

// Joins decoded pieces into text that is safe to emit incrementally: an incomplete UTF-8 sequence at the end of the
// text so far is held back until it completes. Bytes that cannot form valid UTF-8 come out as U+FFFD, one per maximal
// ill-formed subpart, so the same tokens print the same bytes everywhere (local engine, cluster, --json, HTTP).
class TextStreamer {
 public:
  [[nodiscard]] std::string push(std::string piece);
  [[nodiscard]] std::string flush();  // everything still held back

 private:
  std::string pending_;
};

namespace detail {
// Reads a whole file of at most `max_bytes` (errors name the path). Shared by the tokenizer loaders.
[[nodiscard]] Result<std::string> read_tokenizer_file(const std::string& path, uint64_t max_bytes);
}  // namespace detail

}  // namespace ll
