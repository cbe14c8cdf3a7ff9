#include "proto/messages.h"

#include "proto/limits.h"

namespace ll::proto {
namespace {

const TypeInfo kTypes[] = {
    {MessageType::kHello, "hello", Direction::kPeer, 0, 0},
    {MessageType::kWelcome, "welcome", Direction::kPeer, 0, 0},
    {MessageType::kHeartbeat, "heartbeat", Direction::kPeer, 0, 0},
    {MessageType::kVoteRequest, "vote_request", Direction::kPeer, 0, 0},
    {MessageType::kVoteReply, "vote_reply", Direction::kPeer, 0, 0},
    {MessageType::kPing, "ping", Direction::kPeer, 0, 0},
    {MessageType::kPong, "pong", Direction::kPeer, 0, 0},
    {MessageType::kProbe, "probe", Direction::kPeer, 1, 1},
    {MessageType::kBye, "bye", Direction::kPeer, 0, 0},
    {MessageType::kGetDevices, "get_devices", Direction::kClientRequest, 0, 0},
    {MessageType::kDevices, "devices", Direction::kReply, 0, 0},
    {MessageType::kGetStatus, "get_status", Direction::kClientRequest, 0, 0},
    {MessageType::kStatus, "status", Direction::kReply, 0, 0},
    {MessageType::kRefreshProfile, "refresh_profile", Direction::kClientRequest, 0, 0},
    {MessageType::kRefreshStarted, "refresh_started", Direction::kReply, 0, 0},
    {MessageType::kLoad, "load", Direction::kClientRequest, 0, 0},
    {MessageType::kGetPlan, "get_plan", Direction::kClientRequest, 0, 0},
    {MessageType::kPlanInfo, "plan_info", Direction::kReply, 0, 0},
    {MessageType::kSetSpeed, "set_speed", Direction::kClientRequest, 0, 0},
    {MessageType::kSpeedSet, "speed_set", Direction::kReply, 0, 0},
    {MessageType::kRemoveDevice, "remove_device", Direction::kClientRequest, 0, 0},
    {MessageType::kDeviceRemoved, "device_removed", Direction::kReply, 0, 0},
    {MessageType::kError, "error", Direction::kReply, 0, 0},
};

ProtocolError perr(std::string code, std::string message, std::string in_reply_to = "") {
  return ProtocolError{std::move(code), std::move(message), std::move(in_reply_to)};
}

Result<std::vector<MemberRef>> members_from_json(const Json& j) {
  LL_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "members", kMaxMembers));
  std::vector<MemberRef> out;
  for (const Json& m : *arr) {
    if (!m.is_object()) return make_error("member entry is not an object");
    MemberRef ref;
    LL_ASSIGN_OR_RETURN(ref.name, get_name(m, "name"));
    LL_ASSIGN_OR_RETURN(ref.endpoint, get_endpoint(m, "endpoint"));
    out.push_back(std::move(ref));
  }
  return out;
}

Json members_to_json(const std::vector<MemberRef>& members) {
  Json arr = Json::array();
  for (const auto& m : members) arr.push_back({{"name", m.name}, {"endpoint", m.endpoint}});
  return arr;
}

Result<LinkStat> link_from_json(const Json& j) {
  if (!j.is_object()) return make_error("link entry is not an object");
  LinkStat s;
  LL_ASSIGN_OR_RETURN(s.rtt_ms, get_number(j, "rtt_ms"));
  LL_ASSIGN_OR_RETURN(s.bandwidth_mbps, get_number(j, "bandwidth_mbps"));
  if (s.rtt_ms < 0 || s.bandwidth_mbps < 0) return make_error("link values must not be negative");
  return s;
}

// Every term field: at most kMaxTerm (docs/cluster.md, "Terms and their bound").
Result<uint64_t> get_term(const Json& j, const char* key) {
  LL_ASSIGN_OR_RETURN(uint64_t term, get_u64(j, key));
  if (term > kMaxTerm) return make_error(std::string("field '") + key + "' is over the term limit");
  return term;
}

Json link_to_json(const LinkStat& s) { return {{"rtt_ms", s.rtt_ms}, {"bandwidth_mbps", s.bandwidth_mbps}}; }

// A message of another protocol version. Only the fields every version keeps (docs/protocol.md, "Versions") are
// read: who sent it, and, when it is an error (a refusal of ours), its code. One line naming both versions.
ProtocolError other_version(const Json& j, int64_t version) {
  auto from = get_name(j, "from");
  auto endpoint = get_endpoint(j, "endpoint");
  auto type = get_string(j, "type", kMaxTypeNameBytes);
  std::string message = from.ok() ? "'" + *from + "'" : "the sender";
  if (endpoint.ok()) message += " (" + *endpoint + ")";
  message += " speaks lingualinked protocol version " + std::to_string(version) + ", this program speaks version " +
             std::to_string(kProtocolVersion) + ": run the same lingualinked release on every device and llctl";
  if (type.ok() && *type == "error") {
    auto code = get_string(j, "code", kMaxTypeNameBytes);
    if (code.ok() && valid_name(*code)) message += " (it answered " + *code + ")";
  }
  const bool known = type.ok() && find_type(*type) != nullptr;
  return perr("unsupported_version", message, known ? *type : "");
}

}  // namespace

const TypeInfo& type_info(MessageType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t;
  }
  return kTypes[sizeof(kTypes) / sizeof(kTypes[0]) - 1];
}

const TypeInfo* find_type(std::string_view name) {
  for (const auto& t : kTypes) {
    if (name == t.name) return &t;
  }
  return nullptr;
}

std::variant<Envelope, ProtocolError> decode_message(const std::vector<std::string>& frames) {
  if (frames.empty()) return perr("malformed", "empty message");
  if (frames[0].size() > kMaxControlFrameBytes) {
    return perr("too_large", "control frame of " + std::to_string(frames[0].size()) + " bytes exceeds " +
                                 std::to_string(kMaxControlFrameBytes));
  }
  if (frames.size() > 1 + kMaxTensorFrames) return perr("too_large", "too many frames");
  auto parsed = parse_control_json(frames[0], kMaxControlFrameBytes, kMaxJsonDepth);
  if (!parsed.ok()) return perr("malformed", parsed.error());
  Json& j = parsed.value();

  auto version = get_i64(j, "v");
  if (!version.ok()) return perr("malformed", version.error());
  if (*version != kProtocolVersion) return other_version(j, *version);
  auto type_str = get_string(j, "type", kMaxTypeNameBytes);
  if (!type_str.ok()) return perr("malformed", type_str.error());
  const TypeInfo* info = find_type(*type_str);
  if (info == nullptr) return perr("unknown_type", "unknown message type '" + *type_str + "'");
  const std::string tname = info->name;

  Envelope msg;
  msg.type = info->type;
  auto term = get_u64(j, "term");
  if (!term.ok()) return perr("malformed", term.error(), tname);
  msg.term = *term;
  if (msg.term > kMaxTerm) return perr("malformed", "term over the limit", tname);
  auto from = get_name(j, "from");
  if (!from.ok()) return perr("malformed", from.error(), tname);
  msg.from = *from;
  if (info->direction == Direction::kPeer) {
    auto ep = get_endpoint(j, "endpoint");
    if (!ep.ok()) return perr("malformed", ep.error(), tname);
    msg.endpoint = *ep;
    auto cluster = get_name(j, "cluster");
    if (!cluster.ok()) return perr("malformed", cluster.error(), tname);
    msg.cluster = *cluster;
  }

  const size_t ntensors = frames.size() - 1;
  if (ntensors > info->max_tensors) {
    return perr("unexpected_tensor",
                tname + " takes at most " + std::to_string(info->max_tensors) + " tensor frames, got " +
                    std::to_string(ntensors),
                tname);
  }
  if (ntensors < info->min_tensors) {
    return perr("malformed", tname + " needs " + std::to_string(info->min_tensors) + " tensor frames", tname);
  }
  for (size_t i = 1; i < frames.size(); ++i) {
    if (msg.type == MessageType::kProbe && frames[i].size() > kMaxProbeBytes + kTensorHeaderBytes + 8) {
      return perr("too_large", "probe payload over " + std::to_string(kMaxProbeBytes) + " bytes", tname);
    }
    auto frame = decode_tensor_frame(frames[i]);
    if (!frame.ok()) return perr("bad_tensor_frame", frame.error(), tname);
    msg.tensors.push_back(std::move(frame.value()));
  }
  if (msg.type == MessageType::kProbe) {
    const auto& t = msg.tensors[0];
    if (t.dtype != DType::kU8 || t.shape.size() != 1) {
      return perr("bad_tensor_frame", "probe payload must be u8 of rank 1", tname);
    }
  }
  msg.body = std::move(j);
  return msg;
}

Result<std::vector<std::string>> encode_message(const Envelope& msg) {
  const TypeInfo& info = type_info(msg.type);
  Json j = msg.body.is_object() ? msg.body : Json::object();
  j["v"] = kProtocolVersion;
  j["type"] = info.name;
  j["term"] = msg.term;
  j["from"] = msg.from;
  if (info.direction == Direction::kPeer) {
    j["endpoint"] = msg.endpoint;
    j["cluster"] = msg.cluster;
  }
  if (msg.tensors.size() > info.max_tensors || msg.tensors.size() < info.min_tensors) {
    return make_error(std::string("wrong number of tensor frames for ") + info.name);
  }
  std::vector<std::string> frames;
  frames.push_back(j.dump());
  if (frames[0].size() > kMaxControlFrameBytes) return make_error(std::string(info.name) + " control frame too large");
  for (const auto& t : msg.tensors) {
    LL_ASSIGN_OR_RETURN(std::string bytes, encode_tensor_frame(t));
    frames.push_back(std::move(bytes));
  }
  return frames;
}

// --- typed bodies -----------------------------------------------------------------------------------------------

Json DeviceProfile::to_json() const {
  return {{"name", name},
          {"endpoint", endpoint},
          {"memory_budget", memory_budget},
          {"memory_free", memory_free},
          {"memory_total", memory_total},
          {"threads", threads},
          {"gflops_decode", gflops_decode},
          {"gflops_prefill", gflops_prefill},
          {"profiled", profiled},
          {"version", version},
          {"data_endpoint", data_endpoint},
          {"deploy_endpoint", deploy_endpoint},
          {"quantized_engine", quantized_engine},
          {"rss", rss},
          {"peak_rss", peak_rss}};
}

Result<DeviceProfile> DeviceProfile::from_json(const Json& j) {
  if (!j.is_object()) return make_error("profile is not an object");
  DeviceProfile p;
  LL_ASSIGN_OR_RETURN(p.name, get_name(j, "name"));
  LL_ASSIGN_OR_RETURN(p.endpoint, get_endpoint(j, "endpoint"));
  LL_ASSIGN_OR_RETURN(p.memory_budget, get_u64(j, "memory_budget"));
  LL_ASSIGN_OR_RETURN(p.memory_free, get_u64(j, "memory_free"));
  LL_ASSIGN_OR_RETURN(p.memory_total, get_u64(j, "memory_total"));
  LL_ASSIGN_OR_RETURN(p.threads, get_i64(j, "threads"));
  LL_ASSIGN_OR_RETURN(p.gflops_decode, get_number(j, "gflops_decode"));
  LL_ASSIGN_OR_RETURN(p.gflops_prefill, get_number(j, "gflops_prefill"));
  LL_ASSIGN_OR_RETURN(p.profiled, get_bool(j, "profiled"));
  LL_ASSIGN_OR_RETURN(p.version, get_string(j, "version", kMaxVersionBytes));
  if (j.contains("quantized_engine")) {
    LL_ASSIGN_OR_RETURN(p.quantized_engine, get_string(j, "quantized_engine", kMaxEngineNameBytes));
  }
  if (j.contains("rss")) {  // optional: older versions do not send it
    LL_ASSIGN_OR_RETURN(p.rss, get_u64(j, "rss"));
  }
  if (j.contains("peak_rss")) {
    LL_ASSIGN_OR_RETURN(p.peak_rss, get_u64(j, "peak_rss"));
  }
  auto data = j.find("data_endpoint");
  if (data != j.end() && !(data->is_string() && data->get<std::string>().empty())) {
    LL_ASSIGN_OR_RETURN(p.data_endpoint, get_endpoint(j, "data_endpoint"));
  }
  auto deploy = j.find("deploy_endpoint");
  if (deploy != j.end() && !(deploy->is_string() && deploy->get<std::string>().empty())) {
    LL_ASSIGN_OR_RETURN(p.deploy_endpoint, get_endpoint(j, "deploy_endpoint"));
  }
  if (p.threads < 0 || p.threads > kMaxProfileThreads) return make_error("profile threads out of range");
  if (p.gflops_decode < 0 || p.gflops_prefill < 0) return make_error("profile GFLOP/s must not be negative");
  return p;
}

Json HelloBody::to_json() const {
  Json j = {{"profile", profile.to_json()}, {"members", members_to_json(members)}};
  j["leader"] = leader;
  return j;
}

Result<HelloBody> HelloBody::from_json(const Json& j, bool welcome) {
  HelloBody b;
  LL_ASSIGN_OR_RETURN(const Json* p, get_object(j, "profile", kMaxProfileFields));
  LL_ASSIGN_OR_RETURN(b.profile, DeviceProfile::from_json(*p));
  LL_ASSIGN_OR_RETURN(b.members, members_from_json(j));
  if (welcome) {
    LL_ASSIGN_OR_RETURN(b.leader, get_name_or_empty(j, "leader"));
  }
  return b;
}

Json HeartbeatBody::to_json() const {
  Json links_json = Json::object();
  for (const auto& [peer, stat] : links) links_json[peer] = link_to_json(stat);
  return {{"role", role},
          {"leader", leader},
          {"profile", profile.to_json()},
          {"members", members_to_json(members)},
          {"links", links_json}};
}

Result<HeartbeatBody> HeartbeatBody::from_json(const Json& j) {
  HeartbeatBody b;
  LL_ASSIGN_OR_RETURN(b.role, get_string(j, "role", kMaxRoleBytes));
  if (b.role != "follower" && b.role != "candidate" && b.role != "leader") return make_error("unknown role");
  LL_ASSIGN_OR_RETURN(b.leader, get_name_or_empty(j, "leader"));
  LL_ASSIGN_OR_RETURN(const Json* p, get_object(j, "profile", kMaxProfileFields));
  LL_ASSIGN_OR_RETURN(b.profile, DeviceProfile::from_json(*p));
  LL_ASSIGN_OR_RETURN(b.members, members_from_json(j));
  LL_ASSIGN_OR_RETURN(const Json* links, get_object(j, "links", kMaxMembers));
  for (auto it = links->begin(); it != links->end(); ++it) {
    if (!valid_name(it.key())) return make_error("link key is not a valid name");
    LL_ASSIGN_OR_RETURN(LinkStat s, link_from_json(it.value()));
    b.links[it.key()] = s;
  }
  return b;
}

Json VoteRequestBody::to_json() const { return {{"pre", pre}}; }

Result<VoteRequestBody> VoteRequestBody::from_json(const Json& j) {
  VoteRequestBody b;
  LL_ASSIGN_OR_RETURN(b.pre, get_bool(j, "pre"));
  return b;
}

Json VoteReplyBody::to_json() const {
  return {{"granted", granted}, {"candidate", candidate}, {"pre", pre}, {"asked_term", asked_term}};
}

Result<VoteReplyBody> VoteReplyBody::from_json(const Json& j) {
  VoteReplyBody b;
  LL_ASSIGN_OR_RETURN(b.granted, get_bool(j, "granted"));
  LL_ASSIGN_OR_RETURN(b.candidate, get_name(j, "candidate"));
  LL_ASSIGN_OR_RETURN(b.pre, get_bool(j, "pre"));
  LL_ASSIGN_OR_RETURN(b.asked_term, get_term(j, "asked_term"));
  return b;
}

Json PingBody::to_json(bool pong) const {
  Json j = {{"nonce", nonce}, {"sent_ns", sent_ns}};
  if (pong) j["bytes"] = bytes;
  return j;
}

Result<PingBody> PingBody::from_json(const Json& j, bool pong) {
  PingBody b;
  LL_ASSIGN_OR_RETURN(b.nonce, get_u64(j, "nonce"));
  LL_ASSIGN_OR_RETURN(b.sent_ns, get_u64(j, "sent_ns"));
  if (pong) {
    LL_ASSIGN_OR_RETURN(b.bytes, get_u64(j, "bytes"));
  }
  return b;
}

Json ErrorBody::to_json() const { return {{"code", code}, {"message", message}, {"in_reply_to", in_reply_to}}; }

Result<ErrorBody> ErrorBody::from_json(const Json& j) {
  ErrorBody b;
  LL_ASSIGN_OR_RETURN(b.code, get_string(j, "code", kMaxTypeNameBytes));
  LL_ASSIGN_OR_RETURN(b.message, get_string(j, "message", kMaxErrorMessageBytes));
  LL_ASSIGN_OR_RETURN(b.in_reply_to, get_string(j, "in_reply_to", kMaxTypeNameBytes));
  return b;
}

Json DevicesBody::to_json() const {
  Json devs = Json::array();
  for (const auto& d : devices) {
    devs.push_back({{"profile", d.profile.to_json()},
                    {"role", d.role},
                    {"term", d.term},
                    {"state", d.state},
                    {"last_heartbeat_ms", d.last_heartbeat_ms}});
  }
  Json lks = Json::array();
  for (const auto& l : links) {
    lks.push_back(
        {{"from", l.from}, {"to", l.to}, {"rtt_ms", l.stat.rtt_ms}, {"bandwidth_mbps", l.stat.bandwidth_mbps}});
  }
  return {{"self", self}, {"leader", leader}, {"term", term}, {"devices", devs}, {"links", lks}};
}

Result<DevicesBody> DevicesBody::from_json(const Json& j) {
  DevicesBody b;
  LL_ASSIGN_OR_RETURN(b.self, get_name(j, "self"));
  LL_ASSIGN_OR_RETURN(b.leader, get_name_or_empty(j, "leader"));
  LL_ASSIGN_OR_RETURN(b.term, get_term(j, "term"));
  LL_ASSIGN_OR_RETURN(const Json* devs, get_array(j, "devices", kMaxMembers));
  for (const Json& d : *devs) {
    if (!d.is_object()) return make_error("device row is not an object");
    DeviceRow row;
    LL_ASSIGN_OR_RETURN(const Json* p, get_object(d, "profile", kMaxProfileFields));
    LL_ASSIGN_OR_RETURN(row.profile, DeviceProfile::from_json(*p));
    LL_ASSIGN_OR_RETURN(row.role, get_string(d, "role", kMaxRoleBytes));
    LL_ASSIGN_OR_RETURN(row.term, get_term(d, "term"));
    LL_ASSIGN_OR_RETURN(row.state, get_string(d, "state", kMaxRoleBytes));
    LL_ASSIGN_OR_RETURN(row.last_heartbeat_ms, get_i64(d, "last_heartbeat_ms"));
    b.devices.push_back(std::move(row));
  }
  LL_ASSIGN_OR_RETURN(const Json* lks, get_array(j, "links", kMaxMembers * kMaxMembers));
  for (const Json& l : *lks) {
    if (!l.is_object()) return make_error("link row is not an object");
    LinkRow row;
    LL_ASSIGN_OR_RETURN(row.from, get_name(l, "from"));
    LL_ASSIGN_OR_RETURN(row.to, get_name(l, "to"));
    LL_ASSIGN_OR_RETURN(row.stat, link_from_json(l));
    b.links.push_back(std::move(row));
  }
  return b;
}

Json StatusBody::to_json() const {
  return {{"self", self},
          {"cluster", cluster},
          {"role", role},
          {"leader", leader},
          {"term", term},
          {"members_known", members_known},
          {"members_alive", members_alive},
          {"quorum", quorum},
          {"uptime_s", uptime_s}};
}

Result<StatusBody> StatusBody::from_json(const Json& j) {
  StatusBody b;
  LL_ASSIGN_OR_RETURN(b.self, get_name(j, "self"));
  LL_ASSIGN_OR_RETURN(b.cluster, get_name(j, "cluster"));
  LL_ASSIGN_OR_RETURN(b.role, get_string(j, "role", kMaxRoleBytes));
  LL_ASSIGN_OR_RETURN(b.leader, get_name_or_empty(j, "leader"));
  LL_ASSIGN_OR_RETURN(b.term, get_term(j, "term"));
  LL_ASSIGN_OR_RETURN(b.members_known, get_u64(j, "members_known"));
  LL_ASSIGN_OR_RETURN(b.members_alive, get_u64(j, "members_alive"));
  LL_ASSIGN_OR_RETURN(b.quorum, get_u64(j, "quorum"));
  LL_ASSIGN_OR_RETURN(b.uptime_s, get_number(j, "uptime_s"));
  return b;
}

Json RefreshStartedBody::to_json() const { return {{"links", links}, {"compute", compute}}; }

Result<RefreshStartedBody> RefreshStartedBody::from_json(const Json& j) {
  RefreshStartedBody b;
  LL_ASSIGN_OR_RETURN(b.links, get_u64(j, "links"));
  LL_ASSIGN_OR_RETURN(b.compute, get_bool(j, "compute"));
  return b;
}

Envelope make_error_message(const std::string& from, uint64_t term, const ProtocolError& error) {
  Envelope e;
  e.type = MessageType::kError;
  e.term = term;
  e.from = from;
  e.body = ErrorBody{error.code, error.message, error.in_reply_to}.to_json();
  return e;
}

}  // namespace ll::proto
