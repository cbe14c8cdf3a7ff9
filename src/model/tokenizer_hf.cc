// Hugging Face tokenizer.json reader for Llama-style BPE tokenizers (model.type "BPE" with vocab + merges,
// byte_fallback, "▁" metaspace via a Prepend/Replace normalizer or a Metaspace pre-tokenizer, <s> </s> <unk>).
// Untrusted input: parsed without exceptions and validated before use. Anything outside that shape is rejected
// with an error naming the field, rather than tokenized differently from the model's training.
// Thread-safety: free functions on local data; the Tokenizer it returns is immutable.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "model/model_limits.h"
#include "model/tokenizer.h"

namespace ll {
namespace {

using nlohmann::json;

constexpr uint64_t kMaxHfTokenizerBytes = 64ull << 20;
constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 "▁"

std::string metaspace_to_space(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s.substr(i, kMetaspace.size()) == kMetaspace) {
      out.push_back(' ');
      i += kMetaspace.size();
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, const char* key) {
  const json* v = member(object, key);
  return v != nullptr && v->is_string() ? v->get<std::string>() : std::string();
}

bool bool_member(const json& object, const char* key, bool fallback) {
  const json* v = member(object, key);
  return v != nullptr && v->is_boolean() ? v->get<bool>() : fallback;
}

struct SpaceHandling {
  bool replace_space = false;  // " " becomes "▁"
  bool prepend = false;        // "▁" is prepended to non-empty text
  bool split_words = false;    // the pre-tokenizer splits before every "▁"
};

// Sequences nest one or two levels in real files. The readers recurse, so deeper nesting is refused rather than
// allowed to overflow the stack.
constexpr int kMaxSequenceDepth = 8;

// Each reader returns `space` updated by what the (sub)tree asks for.
Result<SpaceHandling> read_normalizer(const json& n, SpaceHandling space, int depth = 0) {
  if (n.is_null()) return space;
  if (depth > kMaxSequenceDepth) return make_error("tokenizer.json: normalizer Sequences nest too deeply");
  const std::string type = string_member(n, "type");
  if (type == "Sequence") {
    const json* list = member(n, "normalizers");
    if (list == nullptr || !list->is_array()) return make_error("tokenizer.json: normalizer Sequence without list");
    for (const json& item : *list) {
      LL_ASSIGN_OR_RETURN(space, read_normalizer(item, space, depth + 1));
    }
    return space;
  }
  if (type == "Prepend") {
    if (string_member(n, "prepend") != kMetaspace)
      return make_error("tokenizer.json: Prepend normalizer must add \"▁\"");
    space.prepend = true;
    return space;
  }
  if (type == "Replace") {
    const json* pattern = member(n, "pattern");
    if (pattern == nullptr || string_member(*pattern, "String") != " " || string_member(n, "content") != kMetaspace) {
      return make_error("tokenizer.json: only the Replace normalizer \" \" -> \"▁\" is supported");
    }
    space.replace_space = true;
    return space;
  }
  return make_error("tokenizer.json: unsupported normalizer type '" + type + "'");
}

Result<SpaceHandling> read_pre_tokenizer(const json& p, SpaceHandling space, int depth = 0) {
  if (p.is_null()) return space;
  if (depth > kMaxSequenceDepth) return make_error("tokenizer.json: pre_tokenizer Sequences nest too deeply");
  const std::string type = string_member(p, "type");
  if (type == "Sequence") {
    const json* list = member(p, "pretokenizers");
    if (list == nullptr || !list->is_array()) return make_error("tokenizer.json: pre_tokenizer Sequence without list");
    for (const json& item : *list) {
      LL_ASSIGN_OR_RETURN(space, read_pre_tokenizer(item, space, depth + 1));
    }
    return space;
  }
  if (type != "Metaspace") return make_error("tokenizer.json: unsupported pre_tokenizer type '" + type + "'");
  if (string_member(p, "replacement") != kMetaspace)
    return make_error("tokenizer.json: Metaspace replacement must be \"▁\"");
  space.replace_space = true;
  const std::string scheme = string_member(p, "prepend_scheme");
  if (!scheme.empty()) {
    if (scheme != "first" && scheme != "always" && scheme != "never") {
      return make_error("tokenizer.json: unknown Metaspace prepend_scheme '" + scheme + "'");
    }
    space.prepend = space.prepend || scheme != "never";
  } else {
    space.prepend = space.prepend || bool_member(p, "add_prefix_space", true);
  }
  space.split_words = bool_member(p, "split", true);
  return space;
}

// "a b" (older files) or ["a", "b"] (newer files).
Result<std::pair<std::string, std::string>> read_merge(const json& m, size_t rank) {
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
      return make_error("tokenizer.json: merge " + std::to_string(rank) + " is not \"left right\"");
    }
    return std::make_pair(s.substr(0, space), s.substr(space + 1));
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return std::make_pair(m[0].get<std::string>(), m[1].get<std::string>());
  }
  return make_error("tokenizer.json: merge " + std::to_string(rank) + " is neither \"a b\" nor [\"a\", \"b\"]");
}

}  // namespace

Result<Tokenizer> Tokenizer::load_hf(const std::string& path) {
  LL_ASSIGN_OR_RETURN(std::string text, detail::read_tokenizer_file(path, kMaxHfTokenizerBytes));
  auto tokenizer = parse_hf(text);
  if (!tokenizer.ok()) return make_error(tokenizer.error() + " (in '" + path + "')");
  return tokenizer;
}

Result<Tokenizer> Tokenizer::parse_hf(std::string_view json_text) {
  try {  // type checks precede every access; this only guards against a missed case (e.g. std::bad_alloc)
    const json root = json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded() || !root.is_object()) return make_error("tokenizer.json: not a JSON object");
    const json* model = member(root, "model");
    if (model == nullptr || !model->is_object()) return make_error("tokenizer.json: missing object 'model'");
    const std::string type = string_member(*model, "type");
    if (!type.empty() && type != "BPE") return make_error("tokenizer.json: model.type '" + type + "' is not BPE");
    const json* vocab = member(*model, "vocab");
    if (vocab == nullptr || !vocab->is_object() || vocab->empty()) {
      return make_error("tokenizer.json: model.vocab must be a non-empty object");
    }
    if (vocab->size() > static_cast<size_t>(limits::kMaxVocab)) return make_error("tokenizer.json: vocab too large");

    // Ids: the vocab plus added tokens, dense from 0.
    std::unordered_map<std::string, int32_t> original_ids;  // piece as written in the file ("▁", not " ")
    original_ids.reserve(vocab->size());
    std::vector<std::string> pieces;
    std::vector<char> assigned;  // pieces[id] is set
    auto place = [&](const std::string& piece, const json& id_value, bool from_vocab) -> Status {
      if (!id_value.is_number_integer()) return make_error("tokenizer.json: id of '" + piece + "' is not an integer");
      const int64_t id = id_value.get<int64_t>();
      if (id < 0 || id >= limits::kMaxVocab)
        return make_error("tokenizer.json: id " + std::to_string(id) + " out of range");
      const auto slot = static_cast<size_t>(id);
      if (pieces.size() <= slot) {
        pieces.resize(slot + 1);
        assigned.resize(slot + 1, 0);
      }
      if (from_vocab && assigned[slot]) {
        return make_error("tokenizer.json: id " + std::to_string(id) + " is used twice in the vocab");
      }
      original_ids.emplace(piece, static_cast<int32_t>(id));  // a JSON object cannot repeat a vocab key
      if (!assigned[slot]) pieces[slot] = metaspace_to_space(piece);
      assigned[slot] = 1;
      return Status::Ok();
    };
    for (auto it = vocab->begin(); it != vocab->end(); ++it) LL_TRY_STATUS(place(it.key(), it.value(), true));
    if (const json* added = member(root, "added_tokens"); added != nullptr && !added->is_null()) {
      if (!added->is_array()) return make_error("tokenizer.json: added_tokens must be an array");
      for (const json& token : *added) {
        const json* id = member(token, "id");
        const json* content = member(token, "content");
        if (id == nullptr || content == nullptr || !content->is_string() || content->get<std::string>().empty()) {
          return make_error("tokenizer.json: added_tokens entries need an id and a non-empty content");
        }
        LL_TRY_STATUS(place(content->get<std::string>(), *id, false));
      }
    }
    if (pieces.size() > static_cast<size_t>(limits::kMaxVocab)) return make_error("tokenizer.json: vocab too large");
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (!assigned[i])
        return make_error("tokenizer.json: no token has id " + std::to_string(i) + " (ids must be dense)");
    }

    SpaceHandling space;
    if (const json* n = member(root, "normalizer")) {
      LL_ASSIGN_OR_RETURN(space, read_normalizer(*n, space));
    }
    if (const json* p = member(root, "pre_tokenizer")) {
      LL_ASSIGN_OR_RETURN(space, read_pre_tokenizer(*p, space));
    }
    if (!space.replace_space) {
      return make_error(
          "tokenizer.json: not a Llama-style metaspace tokenizer (no normalizer or pre_tokenizer maps "
          "\" \" to \"▁\")");
    }

    Tokenizer t;
    t.format_ = Format::kHuggingFace;
    t.pieces_ = std::move(pieces);
    t.scores_.assign(t.pieces_.size(), 0.0f);
    t.add_dummy_prefix_ = space.prepend;
    t.split_words_ = space.split_words;
    t.fuse_unk_ = bool_member(*model, "fuse_unk", false);
    auto id_of = [&](const std::string& piece) {
      auto it = original_ids.find(piece);
      return it == original_ids.end() ? -1 : it->second;
    };

    if (const json* merges = member(*model, "merges"); merges != nullptr && !merges->is_null()) {
      if (!merges->is_array()) return make_error("tokenizer.json: model.merges must be an array");
      t.merge_ranks_.reserve(merges->size());
      for (size_t rank = 0; rank < merges->size(); ++rank) {
        LL_ASSIGN_OR_RETURN(auto pair, read_merge((*merges)[rank], rank));
        const int32_t left = id_of(pair.first), right = id_of(pair.second), merged = id_of(pair.first + pair.second);
        if (left < 0 || right < 0 || merged < 0) {
          return make_error("tokenizer.json: merge " + std::to_string(rank) + " ('" + pair.first + "' '" + pair.second +
                            "') uses a piece missing from the vocab");
        }
        const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
        const int64_t value = (static_cast<int64_t>(rank) << 32) | static_cast<uint32_t>(merged);
        if (t.merge_ranks_.emplace(key, value).second && t.scores_[static_cast<size_t>(merged)] == 0.0f) {
          t.scores_[static_cast<size_t>(merged)] = -static_cast<float>(rank);
        }
      }
    }

    t.byte_ids_.fill(-1);
    if (bool_member(*model, "byte_fallback", false)) {
      for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        t.byte_ids_[static_cast<size_t>(b)] = id_of(name);
      }
    }
    const std::string unk = string_member(*model, "unk_token");
    t.unk_id_ = id_of(unk.empty() ? std::string("<unk>") : unk);
    t.bos_id_ = id_of("<s>");
    t.eos_id_ = id_of("</s>");
    if (t.bos_id_ < 0 || t.eos_id_ < 0)
      return make_error("tokenizer.json: no <s> / </s> token (not a Llama tokenizer)");
    t.index_pieces();
    return t;
  } catch (const std::exception& e) {
    return make_error(std::string("tokenizer.json: ") + e.what());
  }
}

}  // namespace ll
