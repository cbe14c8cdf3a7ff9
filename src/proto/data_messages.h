// Data-plane messages (docs/protocol.md, "Data plane"): a client's generate stream with the head stage, activations
// from stage to stage, sampled tokens back to the head, and session ends. Same framing as the control plane — one
// JSON control frame, then tensor frames — on a separate socket per daemon. Decoders validate every field and frame
// before anything is allocated from them. Thread-safety: value types and stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "lingualinked/result.h"
#include "proto/json_fields.h"
#include "proto/limits.h"
#include "proto/tensor_frame.h"

namespace ll::proto {

struct SamplingWire {
  double temperature = 0;
  int64_t top_k = 0;
  double top_p = 1;
  uint64_t seed = 0;
};

// Observed cost of one step at one stage; rides along with the pipeline traffic to the head.
struct StageStat {
  int64_t stage = 0;
  double compute_ms = 0;
  double queue_ms = 0;
  int64_t batch = 1;
  int64_t rows = 0;  // token rows this item had in the step (1: a decode step, more: prefill); 0: not told
  // From the end of the compute to the hand-off to ZeroMQ, measured where that can still ride in the message: the
  // tail's sampling and the wire conversion and tensor frame of a stage's output. Optional on the wire (0 = absent).
  double send_ms = 0;
};

// The figures of the step that produced a streamed token, for a client that asked for them (GenerateMsg::trace).
// Each stage measured its own durations on its own clock; only the head's round trip spans devices, and it is
// measured on the head's clock alone (docs/performance.md, "Reading a trace").
struct StepTrace {
  int64_t position = 0;           // the position the step sampled
  double round_trip_ms = 0;       // head: its activation handed to ZeroMQ -> the token back (0 on a one-stage ring)
  std::vector<StageStat> stages;  // every stage's figures, in ring order (the head's send_ms included)
};

// client -> head
struct GenerateMsg {
  std::string prompt;
  int64_t max_tokens = 256;
  SamplingWire sampling;
  bool ignore_eos = false;
  // Tokens a previous head already streamed to this client (its head died): the new head continues after them,
  // and with per-position seeded sampling the rest is exactly what the lost head would have produced.
  std::vector<int64_t> resume_tokens;
  bool trace = false;  // send each token's StepTrace (an older head ignores the field and sends none)
  // Speculative decoding (docs/pipeline.md): "" takes the head's default, else off | ngram | draft:<name>; and the
  // most tokens a step drafts, -1 for the head's default. The output is the same either way; only speed differs.
  std::string speculate;
  int64_t draft_tokens = -1;
};
struct CancelMsg {
  uint64_t session = 0;
};
// stage -> next stage: a step's input. `hidden` is f32 or f16 [T, dim].
struct ActivationMsg {
  uint64_t session = 0;
  uint64_t plan_version = 0;
  int64_t start_pos = 0;
  int64_t decode_rows = 0;  // trailing rows computed as one-token decode rows (a replay; see StepInput)
  bool sample = true;       // false: a replay step before the last; the tail samples nothing
  SamplingWire sampling;    // the tail samples with it
  // A speculative step: the head's drafted tokens, the step's last draft.size() rows (all rows are decode rows). The
  // tail verifies them; every stage lets the session's next step start back at the first rejected position.
  std::vector<int64_t> draft;
  std::vector<StageStat> stats;
  TensorFrame hidden;
};
// tail -> head: the token sampled for `position`. After a speculative step, the first `accepted` drafted tokens
// stand too (positions position - accepted .. position - 1).
struct TokenMsg {
  uint64_t session = 0;
  uint64_t plan_version = 0;
  int64_t position = 0;
  int64_t token = 0;
  std::vector<StageStat> stats;
  int64_t accepted = 0;
};
// head -> every other stage: free the session's KV cache.
struct SessionEndMsg {
  uint64_t session = 0;
};
// head -> client
struct StartedMsg {
  uint64_t session = 0;
  std::vector<int64_t> prompt_tokens;
};
struct TokensMsg {  // streamed text
  uint64_t session = 0;
  std::vector<int64_t> tokens;
  std::string text;
  std::optional<StepTrace> trace = std::nullopt;  // only to a client that asked for it, with a one-token piece
};
struct DoneMsg {
  uint64_t session = 0;
  std::string stop_reason;
  std::vector<int64_t> prompt_tokens;
  std::vector<int64_t> tokens;
  std::string text;
  double prefill_s = 0;
  double decode_s = 0;
  int64_t stages = 1;
  // Speculative decoding, when the generation used it: the mode, tokens drafted and accepted, and the decode steps
  // (ring trips) that produced the generated tokens.
  std::string speculate;
  int64_t drafted = 0;
  int64_t accepted = 0;
  int64_t decode_steps = 0;
};
// --- model deployment ----------------------------------------------------------------------------------------
// leader -> every device: the plan. The manifest travels whole (a device checks every file against it).
struct PlanStage {
  std::string device;
  std::string data_endpoint;    // activations
  std::string deploy_endpoint;  // plans, file fetches from peers (a stage serves the plan's files it holds)
  int64_t first_shard = 0;
  int64_t last_shard = 0;
  std::vector<int64_t> backup_shards;
};
// A device outside the ring that keeps copies of shards on disk, so that it can take over a lost stage without
// fetching them first.
struct PlanStandby {
  std::string device;
  std::vector<int64_t> backup_shards;
};
struct PlanMsg {
  uint64_t plan_version = 0;
  uint64_t term = 0;
  std::string leader_deploy_endpoint;  // where files are fetched and progress reported
  std::string manifest_json;
  std::string wire = "float32";
  int64_t max_sessions = kDefaultPlanSessions;  // generations in flight at once: KV caches every stage reserves
  std::vector<PlanStage> stages;
  std::vector<PlanStandby> standby;  // optional
};
// device -> leader: bytes [offset, offset+length) of the file named by its hash.
struct FetchMsg {
  std::string sha256;
  uint64_t offset = 0;
  uint64_t length = 0;
};
// leader -> device, answering a fetch: the bytes as a u8 tensor frame.
struct ChunkMsg {
  std::string sha256;
  uint64_t offset = 0;
  uint64_t total = 0;
  TensorFrame bytes;
};
// device -> leader.
struct LoadProgressMsg {
  uint64_t plan_version = 0;
  std::string device;
  std::string state;  // fetching | loading | ready | idle | failed
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t bytes_from_cache = 0;
  std::string error;
};

// head -> leader (deploy endpoint), when the head is not the leader: the figures of a step the head took a token
// from, for the leader's load balancing and calibration (the leader observes its own head's steps directly).
struct StepStatsMsg {
  uint64_t plan_version = 0;
  uint64_t session = 0;
  std::vector<StageStat> stats;
};

struct DataErrorMsg {
  std::string code;  // bad_request | not_ready | busy | internal | malformed | unsupported_version | unavailable
  std::string message;
};

using DataMessage = std::variant<GenerateMsg, CancelMsg, ActivationMsg, TokenMsg, SessionEndMsg, StartedMsg, TokensMsg,
                                 DoneMsg, DataErrorMsg, PlanMsg, FetchMsg, ChunkMsg, LoadProgressMsg, StepStatsMsg>;

[[nodiscard]] Result<std::vector<std::string>> encode_data_message(const DataMessage& message);
// The control frame alone, as encode_data_message makes it: a sender that encoded (and timed) the tensor frame itself
// completes the message with it.
[[nodiscard]] Result<std::string> encode_data_control_frame(const DataMessage& message);
[[nodiscard]] Result<DataMessage> decode_data_message(const std::vector<std::string>& frames);
[[nodiscard]] const char* data_message_name(const DataMessage& message);
// Whether a message that failed to decode is well-formed JSON of another protocol version (answered with the code
// `unsupported_version`, not `malformed`: the peer is not broken, it is older or newer).
[[nodiscard]] bool speaks_other_version(const std::vector<std::string>& frames);

// IEEE half precision conversion for `--wire fp16` (round to nearest even).
[[nodiscard]] uint16_t float_to_half(float value);
[[nodiscard]] float half_to_float(uint16_t half);

}  // namespace ll::proto
