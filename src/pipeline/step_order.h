// StepOrder: where each session open on a stage stands — the position its next step must start at. A session's steps
// (prefill chunks, decode steps, replay steps) reach a stage in order over one connection and each writes its KV
// entries at positions start_pos.. start_pos + rows - 1, so a step that does not start where the previous one ended
// is a bug or a forgery; it is refused, never applied (an applied one would corrupt the cache silently). The one
// exception is speculative decoding: after a step that verified d drafted tokens, the next step may start up to d
// positions back (where the first rejected token was), overwriting the rejected rows' entries.
// Thread-safety: none; owned by the stage loop's thread.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "lingualinked/result.h"

namespace ll::pipeline {

class StepOrder {
 public:
  // Takes the next step of `session`: `rows` positions from `start_pos`, the last `drafted` of them drafted tokens.
  // Ok, and the session advances; or the error naming the positions expected (0 for a session not seen yet) and the
  // one received.
  [[nodiscard]] Status admit(uint64_t session, int64_t start_pos, int64_t rows, int64_t drafted = 0);
  void forget(uint64_t session) { next_.erase(session); }
  void clear() { next_.clear(); }

 private:
  struct Stands {
    int64_t next = 0;      // where the previous step ended
    int64_t earliest = 0;  // next minus the previous step's drafted rows: the furthest a rollback may go
  };
  std::unordered_map<uint64_t, Stands> next_;
};

}  // namespace ll::pipeline
