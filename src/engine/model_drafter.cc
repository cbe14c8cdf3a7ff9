#include "engine/model_drafter.h"

#include <algorithm>

namespace ll {

ModelDrafter::ModelDrafter(std::shared_ptr<ShardRange> model, std::string model_name, int context_length,
                           int max_sessions)
    : model_(std::move(model)),
      model_name_(std::move(model_name)),
      context_length_(context_length),
      max_sessions_(static_cast<size_t>(std::max(1, max_sessions))) {}

ModelDrafter::~ModelDrafter() {
  for (const auto& entry : sessions_) model_->close_session(entry.first);
}

void ModelDrafter::forget(uint64_t session) {
  if (sessions_.erase(session) > 0) model_->close_session(session);
}

Result<ModelDrafter::Cached*> ModelDrafter::session_entry(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) {
    if (sessions_.size() >= max_sessions_) {
      auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
        return a.second.last_used < b.second.last_used;
      });
      forget(oldest->first);
    }
    LL_TRY_STATUS(model_->open_session(session));
    it = sessions_.emplace(session, Cached{}).first;
  }
  it->second.last_used = ++clock_;
  return &it->second;
}

Result<int32_t> ModelDrafter::next_token(uint64_t session, int start_pos, std::vector<int32_t> tokens) {
  StepInput step;
  step.start_pos = start_pos;
  step.tokens = std::move(tokens);
  LL_ASSIGN_OR_RETURN(Tensor32 logits, model_->forward(session, step));
  if (logits.values.empty()) return make_error("the draft model returned no logits");
  return static_cast<int32_t>(std::max_element(logits.values.begin(), logits.values.end()) - logits.values.begin());
}

Result<std::vector<int32_t>> ModelDrafter::draft(uint64_t session, const std::vector<int32_t>& context, int k) {
  std::vector<int32_t> out;
  const int length = static_cast<int>(context.size());
  // The drafted tokens take positions length .. length + k - 1, which must fit the draft model's context.
  k = std::min(k, context_length_ - length);
  if (k <= 0 || context.empty()) return out;
  LL_ASSIGN_OR_RETURN(Cached * cached, session_entry(session));
  // The cache is indexed by position: what is past the common prefix is simply overwritten. At least the last
  // token is run again, since its logits are what the first drafted token comes from.
  const auto mismatch = std::mismatch(context.begin(), context.end(), cached->tokens.begin(), cached->tokens.end());
  const int reused = std::min(static_cast<int>(mismatch.first - context.begin()), length - 1);
  cached->tokens.assign(context.begin(), context.begin() + reused);
  // Catch up in one step, then one decode step per drafted token. On an error the cache's contents are unknown:
  // the session starts afresh next time.
  auto fail = [&](const std::string& error) {
    forget(session);
    return make_error("draft model " + model_name_ + ": " + error);
  };
  auto token = next_token(session, reused, std::vector<int32_t>(context.begin() + reused, context.end()));
  if (!token) return fail(token.error());
  cached->tokens.insert(cached->tokens.end(), context.begin() + reused, context.end());
  out.push_back(*token);
  while (static_cast<int>(out.size()) < k) {
    token = next_token(session, length + static_cast<int>(out.size()) - 1, {out.back()});
    if (!token) return fail(token.error());
    cached->tokens.push_back(out.back());
    out.push_back(*token);
  }
  return out;
}

}  // namespace ll
