// Messages of protocol version 1 (docs/protocol.md): the type registry, the envelope every message shares, typed
// bodies with validating decoders, and the multipart codec. No sockets here. Thread-safety: value types and
// stateless functions; the registry is immutable.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lingualinked/result.h"
#include "proto/json_fields.h"
#include "proto/tensor_frame.h"

namespace ll::proto {

enum class MessageType {
  kHello,
  kWelcome,
  kHeartbeat,
  kVoteRequest,
  kVoteReply,
  kPing,
  kPong,
  kProbe,
  kBye,
  kGetDevices,
  kDevices,
  kGetStatus,
  kStatus,
  kRefreshProfile,
  kRefreshStarted,
  kLoad,
  kGetPlan,
  kPlanInfo,
  kSetSpeed,
  kSpeedSet,
  kRemoveDevice,
  kDeviceRemoved,
  kError,
};

enum class Direction { kPeer, kClientRequest, kReply };

// One row of the registry: what a type is called on the wire, who sends it, how many tensor frames it carries.
struct TypeInfo {
  MessageType type;
  const char* name;
  Direction direction;
  size_t min_tensors;
  size_t max_tensors;
};

[[nodiscard]] const TypeInfo& type_info(MessageType type);
[[nodiscard]] const TypeInfo* find_type(std::string_view name);  // nullptr if unknown
[[nodiscard]] inline const char* type_name(MessageType type) { return type_info(type).name; }

// The fields every message carries, the whole control object, and its tensor frames.
struct Envelope {
  MessageType type = MessageType::kError;
  uint64_t term = 0;
  std::string from;
  std::string endpoint;  // peer messages only: the sender's listen endpoint
  std::string cluster;   // peer messages only
  Json body = Json::object();
  std::vector<TensorFrame> tensors;
};

// Why a received message was refused; `code` is one of the error codes in docs/protocol.md.
struct ProtocolError {
  std::string code;
  std::string message;
  std::string in_reply_to;  // the type name, when it could be read
};

// Multipart frames -> validated envelope, or the error to reply with. Checks version, type, common fields, frame
// counts and sizes, and decodes every tensor frame. A message of another protocol version is refused with one line
// naming its sender and both versions, read from the fields every version keeps (docs/protocol.md, "Versions").
[[nodiscard]] std::variant<Envelope, ProtocolError> decode_message(const std::vector<std::string>& frames);

// Envelope -> multipart frames. Writes v/type/term/from (+ endpoint/cluster for peer types) over `body`.
[[nodiscard]] Result<std::vector<std::string>> encode_message(const Envelope& msg);

// --- typed bodies -----------------------------------------------------------------------------------------------

struct DeviceProfile {
  std::string name;
  std::string endpoint;
  uint64_t memory_budget = 0;
  uint64_t memory_free = 0;
  uint64_t memory_total = 0;
  int64_t threads = 0;
  double gflops_decode = 0;
  double gflops_prefill = 0;
  bool profiled = false;
  std::string version;
  std::string data_endpoint;     // where the device's StageServer listens ("" before it started)
  std::string deploy_endpoint;   // where it takes plans and serves files (DeployServer; "" before it started)
  std::string quantized_engine;  // the engine its int8 shards run on ("" if it has none, or an older version)
  uint64_t rss = 0;              // the daemon's resident memory (VmRSS) when it last posted its profile (0: unknown)
  uint64_t peak_rss = 0;         // its peak resident memory so far (VmHWM), same moment
  Json to_json() const;
  [[nodiscard]] static Result<DeviceProfile> from_json(const Json& j);
};

struct MemberRef {
  std::string name;
  std::string endpoint;
};

struct LinkStat {
  double rtt_ms = 0;
  double bandwidth_mbps = 0;  // megabytes per second (1e6 B/s); 0 until measured
};

struct HelloBody {  // hello and welcome
  DeviceProfile profile;
  std::vector<MemberRef> members;
  std::string leader;  // welcome only
  Json to_json() const;
  [[nodiscard]] static Result<HelloBody> from_json(const Json& j, bool welcome);
};

struct HeartbeatBody {
  std::string role;  // follower | candidate | leader
  std::string leader;
  DeviceProfile profile;
  std::vector<MemberRef> members;
  std::map<std::string, LinkStat> links;
  Json to_json() const;
  [[nodiscard]] static Result<HeartbeatBody> from_json(const Json& j);
};

struct VoteRequestBody {
  bool pre = false;  // pre-vote: "would you vote for me in term + 1?" (nobody's state changes)
  Json to_json() const;
  [[nodiscard]] static Result<VoteRequestBody> from_json(const Json& j);
};

struct VoteReplyBody {
  bool granted = false;
  std::string candidate;
  bool pre = false;
  uint64_t asked_term = 0;  // the term the request carried
  Json to_json() const;
  [[nodiscard]] static Result<VoteReplyBody> from_json(const Json& j);
};

struct PingBody {  // ping, probe, pong
  uint64_t nonce = 0;
  uint64_t sent_ns = 0;
  uint64_t bytes = 0;  // pong only
  Json to_json(bool pong) const;
  [[nodiscard]] static Result<PingBody> from_json(const Json& j, bool pong);
};

struct ErrorBody {
  std::string code;
  std::string message;
  std::string in_reply_to;
  Json to_json() const;
  [[nodiscard]] static Result<ErrorBody> from_json(const Json& j);
};

struct DeviceRow {
  DeviceProfile profile;
  std::string role;
  uint64_t term = 0;
  std::string state;               // alive | suspect | dead | self
  int64_t last_heartbeat_ms = -1;  // ms since the last heartbeat, -1 if never
};

struct LinkRow {
  std::string from;
  std::string to;
  LinkStat stat;
};

struct DevicesBody {
  std::string self;
  std::string leader;
  uint64_t term = 0;
  std::vector<DeviceRow> devices;
  std::vector<LinkRow> links;
  Json to_json() const;
  [[nodiscard]] static Result<DevicesBody> from_json(const Json& j);
};

struct StatusBody {
  std::string self;
  std::string cluster;
  std::string role;
  std::string leader;
  uint64_t term = 0;
  uint64_t members_known = 0;
  uint64_t members_alive = 0;
  uint64_t quorum = 0;
  double uptime_s = 0;
  Json to_json() const;
  [[nodiscard]] static Result<StatusBody> from_json(const Json& j);
};

struct RefreshStartedBody {
  uint64_t links = 0;    // peers being re-measured now
  bool compute = false;  // a compute re-profile was scheduled
  Json to_json() const;
  [[nodiscard]] static Result<RefreshStartedBody> from_json(const Json& j);
};

// Builds an error envelope answering `in_reply_to`.
[[nodiscard]] Envelope make_error_message(const std::string& from, uint64_t term, const ProtocolError& error);

}  // namespace ll::proto
