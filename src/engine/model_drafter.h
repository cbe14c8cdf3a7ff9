// ModelDrafter: drafts with a small model on the head device — a draft package (scripts/export-model --draft-layers,
// docs/model-package.md) with the target's tokenizer, held whole in one ShardRange. Each session keeps its own KV
// cache in the draft model, so a draft costs only the catch-up of what the target accepted since the last one (one
// step) plus one decode step per drafted token. Drafts are greedy: their exactness does not matter (the target
// verifies every token), their speed does. Thread-safety: none; one thread calls it (engine/drafter.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/drafter.h"
#include "engine/shard_range.h"

namespace ll {

class ModelDrafter final : public Drafter {
 public:
  // Sessions whose caches a drafter keeps at once by default; the least recently drafted one is closed for a new one.
  static constexpr int kDefaultMaxSessions = 8;

  // `model` holds the whole draft model (embedding .. head); `model_name` is its manifest's name and
  // `context_length` its context.
  ModelDrafter(std::shared_ptr<ShardRange> model, std::string model_name, int context_length,
               int max_sessions = kDefaultMaxSessions);
  ~ModelDrafter() override;
  ModelDrafter(const ModelDrafter&) = delete;
  ModelDrafter& operator=(const ModelDrafter&) = delete;

  // Up to k greedy tokens of the draft model after `context`; fewer when the context would overflow.
  [[nodiscard]] Result<std::vector<int32_t>> draft(uint64_t session, const std::vector<int32_t>& context,
                                                   int k) override;
  void forget(uint64_t session) override;
  [[nodiscard]] std::string name() const override { return "draft:" + model_name_; }

  [[nodiscard]] size_t sessions() const { return sessions_.size(); }

 private:
  struct Cached {
    std::vector<int32_t> tokens;  // the tokens whose keys and values the draft model's cache holds, from position 0
    uint64_t last_used = 0;
  };
  // The session's entry, opened (evicting the least recently used one when full) if it is new.
  [[nodiscard]] Result<Cached*> session_entry(uint64_t session);
  // Runs `tokens` from `start_pos` and returns the draft model's greedy next token.
  [[nodiscard]] Result<int32_t> next_token(uint64_t session, int start_pos, std::vector<int32_t> tokens);

  std::shared_ptr<ShardRange> model_;
  std::string model_name_;
  int context_length_;
  size_t max_sessions_;
  std::map<uint64_t, Cached> sessions_;
  uint64_t clock_ = 0;  // increases on every draft: the LRU order
};

}  // namespace ll
