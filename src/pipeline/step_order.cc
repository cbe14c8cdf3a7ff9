#include "pipeline/step_order.h"

#include <string>

namespace ll::pipeline {

Status StepOrder::admit(uint64_t session, int64_t start_pos, int64_t rows) {
  auto it = next_.find(session);
  const int64_t expected = it == next_.end() ? 0 : it->second;
  if (start_pos != expected || rows < 1) {
    return make_error("session " + std::to_string(session) + ": a step of " + std::to_string(rows) +
                      " rows at position " + std::to_string(start_pos) + ", but the session stands at position " +
                      std::to_string(expected));
  }
  next_[session] = start_pos + rows;
  return Status::Ok();
}

}  // namespace ll::pipeline
