// Tokenizer core: the llama2.c tokenizer.bin reader, encode() (run.c's algorithm, with a hash map and a heap instead
// of run.c's bsearch and O(n^2) rescans), decode_piece() and TextStreamer. The Hugging Face reader is in
// tokenizer_hf.cc. Thread-safety: Tokenizer is immutable after loading (const methods are safe concurrently);
// TextStreamer is single-threaded.
#include "model/tokenizer.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <queue>

#include "model/model_limits.h"

namespace ll {
namespace {

constexpr uint64_t kMaxLlama2cTokenizerBytes = 256ull << 20;
constexpr int32_t kMaxTokenLength = 1 << 16;  // bytes in one piece
constexpr int32_t kFirstByteToken = 3;        // llama2.c: <unk>, <s>, </s>, then <0x00>..<0xFF>
constexpr float kMinMergeScore = -1e10f;      // run.c only merges pairs scoring strictly above this

int32_t read_i32(std::string_view bytes, size_t offset) {
  int32_t v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);  // the format is little-endian, as are our targets
  return v;
}

float read_f32(std::string_view bytes, size_t offset) {
  float v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// run.c: sscanf(piece, "<0x%02hhX>", &byte) == 1 — "<0x" and one or two hex digits (what follows is not checked).
std::optional<unsigned char> parse_byte_piece(std::string_view piece) {
  if (piece.size() < 4 || piece.substr(0, 3) != "<0x") return std::nullopt;
  int hi = hex_value(piece[3]);
  if (hi < 0) return std::nullopt;
  int lo = piece.size() > 4 ? hex_value(piece[4]) : -1;
  return static_cast<unsigned char>(lo < 0 ? hi : hi * 16 + lo);
}

// Length of the UTF-8 sequence a lead byte announces (1 for ASCII and for bytes that cannot lead a sequence).
size_t utf8_sequence_length(unsigned char c) {
  if (c >= 0xC0 && c < 0xE0) return 2;
  if (c >= 0xE0 && c < 0xF0) return 3;
  if (c >= 0xF0 && c < 0xF8) return 4;
  return 1;
}

// `bytes` with every ill-formed sequence replaced by U+FFFD, one per maximal subpart (as the Unicode standard and
// WHATWG's decoder do): what Python's errors="replace" and JSON encoders produce, so text prints the same everywhere.
std::string to_valid_utf8(std::string_view bytes) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  while (i < bytes.size()) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;   // no overlong forms
      if (c == 0xED) high = 0x9F;  // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1;
    for (; k < length && i + k < bytes.size(); ++k) {
      const auto d = static_cast<unsigned char>(bytes[i + k]);
      if (k == 1 ? (d < low || d > high) : (d & 0xC0) != 0x80) break;
    }
    if (k == length) {
      out.append(bytes.substr(i, length));
    } else {
      out += kReplacement;
    }
    i += k;
  }
  return out;
}

}  // namespace

namespace detail {

Result<std::string> read_tokenizer_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return make_error("tokenizer: cannot open '" + path + "'");
  const std::streamoff size = in.tellg();
  if (size < 0) return make_error("tokenizer: cannot size '" + path + "'");
  if (static_cast<uint64_t>(size) > max_bytes) {
    return make_error("tokenizer: '" + path + "' is " + std::to_string(size) + " bytes, more than the limit of " +
                      std::to_string(max_bytes));
  }
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) return make_error("tokenizer: cannot read '" + path + "'");
  return bytes;
}

}  // namespace detail

Result<Tokenizer> Tokenizer::load_llama2c(const std::string& path, int32_t vocab_size) {
  LL_ASSIGN_OR_RETURN(std::string bytes, detail::read_tokenizer_file(path, kMaxLlama2cTokenizerBytes));
  auto tokenizer = parse_llama2c(bytes, vocab_size);
  if (!tokenizer.ok()) return make_error(tokenizer.error() + " (in '" + path + "')");
  return tokenizer;
}

Result<Tokenizer> Tokenizer::parse_llama2c(std::string_view bytes, int32_t vocab_size) {
  if (vocab_size < kFirstByteToken + 256 || vocab_size > limits::kMaxVocab) {
    return make_error("tokenizer: vocab_size " + std::to_string(vocab_size) + " is outside [" +
                      std::to_string(kFirstByteToken + 256) + ", " + std::to_string(limits::kMaxVocab) +
                      "] (llama2.c tokenizers hold <unk>, <s>, </s> and 256 byte tokens)");
  }
  if (bytes.size() < 4) return make_error("tokenizer: truncated: no max_token_length header");
  const int32_t max_token_length = read_i32(bytes, 0);
  if (max_token_length < 1 || max_token_length > kMaxTokenLength) {
    return make_error("tokenizer: max_token_length " + std::to_string(max_token_length) + " is outside [1, " +
                      std::to_string(kMaxTokenLength) + "]");
  }
  // Every token needs at least its score and length: check before allocating anything sized by vocab_size.
  const uint64_t min_bytes = 4 + 8ull * static_cast<uint64_t>(vocab_size);
  if (bytes.size() < min_bytes) {
    return make_error("tokenizer: truncated: " + std::to_string(vocab_size) + " tokens need at least " +
                      std::to_string(min_bytes) + " bytes, the data has " + std::to_string(bytes.size()));
  }

  Tokenizer t;
  t.format_ = Format::kLlama2c;
  t.pieces_.reserve(static_cast<size_t>(vocab_size));
  t.scores_.reserve(static_cast<size_t>(vocab_size));
  size_t offset = 4;
  for (int32_t i = 0; i < vocab_size; ++i) {
    if (bytes.size() - offset < 8) {
      return make_error("tokenizer: truncated at token " + std::to_string(i) + " of " + std::to_string(vocab_size) +
                        " (offset " + std::to_string(offset) + ")");
    }
    const float score = read_f32(bytes, offset);
    const int32_t length = read_i32(bytes, offset + 4);
    offset += 8;
    if (length < 0 || length > max_token_length) {
      return make_error("tokenizer: token " + std::to_string(i) + " has length " + std::to_string(length) +
                        ", outside [0, max_token_length=" + std::to_string(max_token_length) + "]");
    }
    if (bytes.size() - offset < static_cast<size_t>(length)) {
      return make_error("tokenizer: truncated inside token " + std::to_string(i) + " (needs " + std::to_string(length) +
                        " bytes at offset " + std::to_string(offset) + ")");
    }
    std::string_view piece = bytes.substr(offset, static_cast<size_t>(length));
    offset += static_cast<size_t>(length);
    // run.c keeps pieces as C strings: a NUL byte ends the piece for every lookup and concatenation.
    piece = piece.substr(0, piece.find('\0'));
    t.pieces_.emplace_back(piece);
    t.scores_.push_back(score);
  }
  if (offset != bytes.size()) {
    return make_error("tokenizer: " + std::to_string(bytes.size() - offset) + " trailing bytes after " +
                      std::to_string(vocab_size) + " tokens (does the tokenizer match the model's vocab size?)");
  }
  for (int b = 0; b < 256; ++b) t.byte_ids_[static_cast<size_t>(b)] = kFirstByteToken + b;
  t.bos_id_ = 1;
  t.eos_id_ = 2;
  t.unk_id_ = 0;
  t.add_dummy_prefix_ = true;
  t.index_pieces();
  return t;
}

void Tokenizer::index_pieces() {
  piece_ids_.clear();
  piece_ids_.reserve(pieces_.size());
  for (size_t i = 0; i < pieces_.size(); ++i) piece_ids_.emplace(pieces_[i], static_cast<int32_t>(i));
}

std::string_view Tokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= pieces_.size()) return {};
  return pieces_[static_cast<size_t>(id)];
}

int32_t Tokenizer::piece_to_id(std::string_view piece) const {
  auto it = piece_ids_.find(std::string(piece));
  return it == piece_ids_.end() ? -1 : it->second;
}

float Tokenizer::score(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= scores_.size()) return 0.0f;
  return scores_[static_cast<size_t>(id)];
}

std::vector<int32_t> Tokenizer::split_symbols(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size());
  std::string chunk;
  size_t i = 0;
  while (i < text.size()) {
    // run.c: a chunk is one byte plus the continuation bytes (10xxxxxx) that follow it, at most 4 bytes in all.
    size_t len = 1;
    while (len < 4 && i + len < text.size() && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
    chunk.assign(text.substr(i, len));
    i += len;
    if (auto it = piece_ids_.find(chunk); it != piece_ids_.end()) {
      out.push_back(it->second);
      continue;
    }
    bool all_bytes = true;
    for (unsigned char c : chunk) all_bytes = all_bytes && byte_ids_[c] >= 0;
    if (all_bytes) {
      for (unsigned char c : chunk) out.push_back(byte_ids_[c]);
    } else if (unk_id_ >= 0 && !(fuse_unk_ && !out.empty() && out.back() == unk_id_)) {
      out.push_back(unk_id_);
    }
  }
  return out;
}

std::optional<Tokenizer::MergeCandidate> Tokenizer::find_merge(int32_t left, int32_t right) const {
  if (format_ == Format::kHuggingFace) {
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
    auto it = merge_ranks_.find(key);
    if (it == merge_ranks_.end()) return std::nullopt;
    const int64_t rank = it->second >> 32;
    return MergeCandidate{-static_cast<double>(rank), static_cast<int32_t>(it->second & 0xffffffff)};
  }
  const std::string& a = pieces_[static_cast<size_t>(left)];
  const std::string& b = pieces_[static_cast<size_t>(right)];
  std::string joined;
  joined.reserve(a.size() + b.size());
  joined.append(a).append(b);
  auto it = piece_ids_.find(joined);
  if (it == piece_ids_.end()) return std::nullopt;
  const float s = scores_[static_cast<size_t>(it->second)];
  if (!(s > kMinMergeScore)) return std::nullopt;  // also rejects NaN, as run.c's comparison does
  return MergeCandidate{static_cast<double>(s), it->second};
}

std::vector<int32_t> Tokenizer::merge(const std::vector<int32_t>& symbols) const {
  // Equivalent to run.c's loop "merge the best-scoring adjacent pair, leftmost on ties, until none is left": the heap
  // orders candidates by (priority desc, position asc); positions are original indices, so they keep the list order.
  // Entries made stale by a neighbouring merge are detected and dropped when popped.
  const int n = static_cast<int>(symbols.size());
  if (n < 2) return symbols;
  std::vector<int32_t> ids = symbols;
  std::vector<int> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
  std::vector<char> alive(static_cast<size_t>(n), 1);
  for (int i = 0; i < n; ++i) {
    next[static_cast<size_t>(i)] = i + 1;
    prev[static_cast<size_t>(i)] = i - 1;
  }
  struct Entry {
    double priority;
    int left, right;
    int32_t left_id, right_id, merged;
  };
  auto worse = [](const Entry& x, const Entry& y) {
    if (x.priority != y.priority) return x.priority < y.priority;
    return x.left > y.left;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  auto consider = [&](int left, int right) {
    const int32_t l = ids[static_cast<size_t>(left)], r = ids[static_cast<size_t>(right)];
    if (auto m = find_merge(l, r)) heap.push(Entry{m->priority, left, right, l, r, m->merged});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i, i + 1);
  while (!heap.empty()) {
    const Entry e = heap.top();
    heap.pop();
    const auto L = static_cast<size_t>(e.left), R = static_cast<size_t>(e.right);
    if (!alive[L] || !alive[R] || next[L] != e.right || ids[L] != e.left_id || ids[R] != e.right_id) continue;
    ids[L] = e.merged;
    alive[R] = 0;
    next[L] = next[R];
    if (next[R] < n) prev[static_cast<size_t>(next[R])] = e.left;
    if (prev[L] >= 0) consider(prev[L], e.left);
    if (next[L] < n) consider(e.left, next[L]);
  }
  std::vector<int32_t> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; i = next[static_cast<size_t>(i)]) out.push_back(ids[static_cast<size_t>(i)]);
  return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int32_t> out;
  if (add_bos && bos_id_ >= 0) out.push_back(bos_id_);
  text = text.substr(0, text.find('\0'));
  if (text.empty()) return out;
  // run.c's add_dummy_prefix / the Llama "Prepend ▁" normalizer (pieces store "▁" as " "). run.c looks the prefix up
  // on its own, so it never joins a chunk with continuation bytes that start the text.
  std::vector<int32_t> symbols;
  if (add_dummy_prefix_) symbols = split_symbols(" ");
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    // Metaspace with split: every space starts a new word and merges stay inside words. Otherwise one word.
    size_t end = text.size();
    if (split_words_) {
      end = text.find(' ', first && add_dummy_prefix_ ? pos : pos + 1);
      if (end == std::string_view::npos) end = text.size();
    }
    const std::vector<int32_t> more = split_symbols(text.substr(pos, end - pos));
    symbols.insert(symbols.end(), more.begin(), more.end());
    const std::vector<int32_t> word = merge(symbols);
    out.insert(out.end(), word.begin(), word.end());
    symbols.clear();
    pos = end;
    first = false;
  }
  return out;
}

std::string Tokenizer::decode_piece(int32_t prev_token, int32_t token) const {
  std::string_view piece = id_to_piece(token);
  // After BOS, SentencePiece's decoder strips the leading space.
  if (prev_token == bos_id_ && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
  if (auto byte = parse_byte_piece(piece)) return std::string(1, static_cast<char>(*byte));
  return std::string(piece);
}

std::string TextStreamer::push(std::string piece) {
  pending_ += piece;
  const size_t n = pending_.size();
  size_t hold_from = n;
  for (size_t k = 1; k <= 3 && k <= n; ++k) {
    const auto c = static_cast<unsigned char>(pending_[n - k]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: look further back for the lead byte
    if (utf8_sequence_length(c) > k) hold_from = n - k;
    break;
  }
  std::string ready = to_valid_utf8(std::string_view(pending_).substr(0, hold_from));
  pending_.erase(0, hold_from);
  return ready;
}

std::string TextStreamer::flush() {
  std::string rest = to_valid_utf8(pending_);
  pending_.clear();
  return rest;
}

}  // namespace ll
