// Standby copies: which shards each device outside the ring keeps on disk, so that losing a stage finds a device
// that fetches nothing before it takes over. Pure planning over the placement problem; no I/O. Thread-safe (no state).
#pragma once

#include <vector>

#include "placement/problem.h"
#include "proto/data_messages.h"

namespace ll::deploy {

// For every device of `problem` that runs no stage of `ring`: whole stages first — as many as its memory budget
// could run, the stages after the head first and a different first stage for each spare — then the shards next to
// those, which a re-plan over fewer devices moves across a boundary. Devices that can hold nothing are left out.
[[nodiscard]] std::vector<proto::PlanStandby> plan_standby(const placement::PlacementProblem& problem,
                                                           const std::vector<proto::PlanStage>& ring);

}  // namespace ll::deploy
