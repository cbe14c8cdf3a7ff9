// PlanFence: which plans a device accepts (docs/security.md, "Plans"). A plan counts only if it comes from the
// leader of the term this device's node knows, with the key that leader speaks with on the control plane, and its
// version carries that term (the high bits, Planner). So a deposed leader's plan, or one from any other key holding
// the device role, is refused — including one with a huge version that would otherwise shadow every real plan. A
// plan of a term the node has not reached yet (the new leader's plan overtook its first heartbeat) is held, the
// newest one only, until the node knows that term. Thread-safe: the node's thread sets the term, the deploy
// thread checks plans.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "proto/data_messages.h"

namespace ll::deploy {

// The bits of a plan version below the term (Planner: version = term << kPlanTermShift | counter).
inline constexpr unsigned kPlanTermShift = 24;

class PlanFence {
 public:
  enum class Verdict { kAccept, kHold, kRefuse };
  struct Checked {
    Verdict verdict;
    std::string reason;  // why it was held or refused, for the log
  };

  // The node's view: the current term, its leader's name and the key it speaks with ("" when CURVE is off, or
  // before the leader was heard). Returns a held plan this makes acceptable.
  [[nodiscard]] std::optional<proto::PlanMsg> set_leader(uint64_t term, std::string leader, std::string leader_key);
  // Whether `plan`, sent with `sender_key` ("" when CURVE is off), counts. A held plan is kept by the fence.
  [[nodiscard]] Checked check(const proto::PlanMsg& plan, const std::string& sender_key);

 private:
  Checked check_locked(const proto::PlanMsg& plan, const std::string& sender_key) const;

  mutable std::mutex mutex_;
  bool known_ = false;  // until the node reports, nothing is accepted
  uint64_t term_ = 0;
  std::string leader_;
  std::string leader_key_;
  std::optional<std::pair<proto::PlanMsg, std::string>> held_;  // a plan of a later term, and its sender's key
};

}  // namespace ll::deploy
