// StepOrder: where each session open on a stage stands — the position its next step must start at. A session's steps
// (prefill chunks, decode steps, replay steps) reach a stage in order over one connection and each writes its KV
// entries at positions start_pos.. start_pos + rows - 1, so a step that does not start where the previous one ended
// is a bug or a forgery; it is refused, never applied (an applied one would corrupt the cache silently).
// Thread-safety: none; owned by the stage loop's thread.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "lingualinked/result.h"

namespace ll::pipeline {

class StepOrder {
 public:
  // Takes the next step of `session`: `rows` positions from `start_pos`. Ok, and the session advances; or the error
  // naming the position expected (0 for a session not seen yet) and the one received.
  [[nodiscard]] Status admit(uint64_t session, int64_t start_pos, int64_t rows);
  void forget(uint64_t session) { next_.erase(session); }
  void clear() { next_.clear(); }

 private:
  std::unordered_map<uint64_t, int64_t> next_;
};

}  // namespace ll::pipeline
