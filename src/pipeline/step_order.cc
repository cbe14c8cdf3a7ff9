#include "pipeline/step_order.h"

#include <string>

namespace ll::pipeline {

Status StepOrder::admit(uint64_t session, int64_t start_pos, int64_t rows, int64_t drafted) {
  auto it = next_.find(session);
  const Stands stands = it == next_.end() ? Stands{} : it->second;
  if (start_pos < stands.earliest || start_pos > stands.next || rows < 1 || drafted < 0 || drafted >= rows) {
    const std::string expected = stands.earliest == stands.next
                                     ? std::to_string(stands.next)
                                     : std::to_string(stands.earliest) + ".." + std::to_string(stands.next);
    return make_error("session " + std::to_string(session) + ": a step of " + std::to_string(rows) +
                      " rows at position " + std::to_string(start_pos) + ", but the session stands at position " +
                      expected);
  }
  next_[session] = Stands{start_pos + rows, start_pos + rows - drafted};
  return Status::Ok();
}

}  // namespace ll::pipeline
