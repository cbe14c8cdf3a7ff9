// Protocol constants: the single mirror of the limits table in docs/protocol.md. Change the document first.
// Thread-safety: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ll::proto {

inline constexpr int kProtocolVersion = 1;

inline constexpr size_t kMaxControlFrameBytes = 64 * 1024;
inline constexpr int kMaxJsonDepth = 16;
inline constexpr size_t kMaxTensorFrames = 8;
inline constexpr size_t kMaxTensorRank = 8;
inline constexpr uint64_t kMaxTensorDim = uint64_t{1} << 31;
inline constexpr uint64_t kMaxTensorElements = uint64_t{1} << 28;
inline constexpr uint64_t kMaxTensorFrameBytes = uint64_t{256} << 20;
inline constexpr size_t kTensorHeaderBytes = 8;  // magic(4) dtype(1) rank(1) reserved(2), then 8 bytes per dim

inline constexpr int64_t kMaxSocketFrameBytes = int64_t{4} << 20;  // ZMQ_MAXMSGSIZE on the control ROUTER
// ZMQ_MAXMSGSIZE on the data plane: the largest hidden state (a full-context prefill of a 7B-class model, 2048 x
// 4096 x 4 bytes = 32 MiB) with room to spare; shard chunks are 4 MiB.
inline constexpr int64_t kMaxDataSocketFrameBytes = int64_t{64} << 20;
inline constexpr size_t kMaxProbeBytes = size_t{1} << 20;
inline constexpr size_t kMaxNameBytes = 64;
inline constexpr size_t kMaxEndpointBytes = 256;
inline constexpr size_t kMaxMembers = 64;
inline constexpr int kReceiveHighWaterMark = 64;
// Messages queued per data-plane socket: decode steps of many sessions in flight between two stages.
inline constexpr int kDataHighWaterMark = 10000;
// Election terms (docs/cluster.md, "Terms and their bound"). A term rises at most a few times per second, so an
// honest cluster needs centuries to get here; a larger term is hostile or corrupt. 2^39 also keeps the plan version
// (term << 24) below 2^63, and is exact in every JSON implementation.
inline constexpr uint64_t kMaxTerm = uint64_t{1} << 39;

// Strings and numbers inside control messages.
inline constexpr size_t kMaxTypeNameBytes = 64;  // type, error code, in_reply_to
inline constexpr size_t kMaxErrorMessageBytes = 4096;
inline constexpr size_t kMaxRoleBytes = 16;        // role and member state names
inline constexpr size_t kMaxVersionBytes = 64;     // the release string in a device profile
inline constexpr size_t kMaxEngineNameBytes = 32;  // quantized_engine in a device profile
inline constexpr size_t kMaxProfileFields = 32;    // keys of a device profile object
inline constexpr int64_t kMaxProfileThreads = 4096;
// Error replies and log lines about refused messages: a token bucket refilled this many per second.
inline constexpr int kRefusalsPerSecond = 20;
// Beacons (unauthenticated UDP) name endpoints to greet: at most this many pending, this many new per second.
inline constexpr size_t kMaxDiscoveryHints = 16;
inline constexpr int kDiscoveryHintsPerSecond = 4;

// The data and deploy planes (docs/pipeline.md).
inline constexpr size_t kMaxDataControlFrameBytes = 512 * 1024;  // a prompt, or a finished generation's whole text
inline constexpr int kMaxPromptBytes = 256 * 1024;
inline constexpr int kMaxGenerateTokens = 1 << 20;
inline constexpr size_t kMaxResumeTokens = 1 << 20;
inline constexpr size_t kMaxTokenList = 1 << 20;  // prompt_tokens and tokens of started and done
// Drafted tokens one speculative step verifies (activation `draft`, token `accepted`, generate `draft_tokens`);
// mirrors engine/speculation.h kMaxDraftTokens.
inline constexpr int64_t kMaxDraftTokens = 16;
inline constexpr size_t kMaxSpeculateBytes = 256;  // generate `speculate`: off | ngram | draft:<name>
inline constexpr size_t kMaxStageStats = 64;
inline constexpr uint64_t kMaxChunkBytes = 4u << 20;
inline constexpr size_t kMaxPlanStages = 256;
inline constexpr int64_t kMaxShardIndex = 1 << 16;  // shard numbers and backup lists in a plan
// Concurrent generations a plan admits (KV caches reserved per stage); a plan without the field admits the default.
inline constexpr int64_t kMaxPlanSessions = 256;
inline constexpr int64_t kDefaultPlanSessions = 1;

}  // namespace ll::proto
