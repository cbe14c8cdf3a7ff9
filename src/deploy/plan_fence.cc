#include "deploy/plan_fence.h"

namespace ll::deploy {

std::optional<proto::PlanMsg> PlanFence::set_leader(uint64_t term, std::string leader, std::string leader_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  known_ = true;
  term_ = term;
  leader_ = std::move(leader);
  leader_key_ = std::move(leader_key);
  if (!held_) return std::nullopt;
  const Checked checked = check_locked(held_->first, held_->second);
  if (checked.verdict == Verdict::kHold) return std::nullopt;
  std::optional<proto::PlanMsg> released;
  if (checked.verdict == Verdict::kAccept) released = std::move(held_->first);
  held_.reset();
  return released;
}

PlanFence::Checked PlanFence::check(const proto::PlanMsg& plan, const std::string& sender_key) {
  std::lock_guard<std::mutex> lock(mutex_);
  Checked checked = check_locked(plan, sender_key);
  if (checked.verdict == Verdict::kHold && (!held_ || held_->first.plan_version < plan.plan_version)) {
    held_ = std::make_pair(plan, sender_key);
  }
  return checked;
}

PlanFence::Checked PlanFence::check_locked(const proto::PlanMsg& plan, const std::string& sender_key) const {
  if ((plan.plan_version >> kPlanTermShift) != plan.term) {
    return {Verdict::kRefuse, "its version " + std::to_string(plan.plan_version) + " does not carry its term " +
                                  std::to_string(plan.term)};
  }
  if (!known_ || plan.term > term_) {
    return {Verdict::kHold, "term " + std::to_string(plan.term) + " is not known here yet"};
  }
  if (plan.term < term_) {
    return {Verdict::kRefuse,
            "it is of term " + std::to_string(plan.term) + ", from a leader deposed in term " + std::to_string(term_)};
  }
  if (!sender_key.empty() && leader_key_.empty()) {
    return {Verdict::kHold, "the leader of term " + std::to_string(term_) + " was not heard directly yet"};
  }
  if (sender_key != leader_key_) {
    return {Verdict::kRefuse, "it was not sent by " + (leader_.empty() ? std::string("the leader") : leader_) +
                                  ", the leader of term " + std::to_string(term_)};
  }
  return {Verdict::kAccept, ""};
}

}  // namespace ll::deploy
