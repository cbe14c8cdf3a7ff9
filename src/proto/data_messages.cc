#include "proto/data_messages.h"

#include <algorithm>
#include <cstring>

#include "proto/limits.h"

namespace ll::proto {
namespace {

constexpr const char* kNames[] = {"generate", "cancel", "activation",    "token",     "session_end",
                                  "started",  "tokens", "done",          "error",     "plan",
                                  "fetch",    "chunk",  "load_progress", "step_stats"};

Json sampling_json(const SamplingWire& s) {
  return Json{{"temperature", s.temperature}, {"top_k", s.top_k}, {"top_p", s.top_p}, {"seed", s.seed}};
}

Result<SamplingWire> sampling_from(const Json& j) {
  LL_ASSIGN_OR_RETURN(const Json* obj, get_object(j, "sampling", 8));
  SamplingWire s;
  LL_ASSIGN_OR_RETURN(s.temperature, get_number(*obj, "temperature"));
  LL_ASSIGN_OR_RETURN(s.top_k, get_i64(*obj, "top_k"));
  LL_ASSIGN_OR_RETURN(s.top_p, get_number(*obj, "top_p"));
  LL_ASSIGN_OR_RETURN(s.seed, get_u64(*obj, "seed"));
  return s;
}

Result<int64_t> bounded(const Json& j, const char* key, int64_t lo, int64_t hi) {
  LL_ASSIGN_OR_RETURN(int64_t v, get_i64(j, key));
  if (v < lo || v > hi) return make_error(std::string(key) + " out of range");
  return v;
}

Json stats_json(const std::vector<StageStat>& stats) {
  Json out = Json::array();
  for (const auto& s : stats) {
    Json item{{"stage", s.stage},
              {"compute_ms", s.compute_ms},
              {"queue_ms", s.queue_ms},
              {"batch", s.batch},
              {"rows", s.rows}};
    if (s.send_ms > 0) item["send_ms"] = s.send_ms;  // optional: a peer of before the field reads the rest
    out.push_back(std::move(item));
  }
  return out;
}

Result<double> non_negative(const Json& j, const char* key) {
  LL_ASSIGN_OR_RETURN(double v, get_number(j, key));
  if (v < 0) return make_error(std::string(key) + " is negative");
  return v;
}

Result<std::vector<StageStat>> stats_from(const Json& j) {
  LL_ASSIGN_OR_RETURN(const Json* arr, get_array(j, "stats", kMaxStageStats));
  std::vector<StageStat> out;
  for (const Json& item : *arr) {
    if (!item.is_object()) return make_error("stats: entries must be objects");
    StageStat s;
    LL_ASSIGN_OR_RETURN(s.stage, get_i64(item, "stage"));
    LL_ASSIGN_OR_RETURN(s.compute_ms, get_number(item, "compute_ms"));
    LL_ASSIGN_OR_RETURN(s.queue_ms, get_number(item, "queue_ms"));
    LL_ASSIGN_OR_RETURN(s.batch, get_i64(item, "batch"));
    if (item.contains("send_ms")) {
      LL_ASSIGN_OR_RETURN(s.send_ms, non_negative(item, "send_ms"));
    }
    if (item.contains("rows")) {  // optional: a daemon of an older release does not send it
      LL_ASSIGN_OR_RETURN(s.rows, get_i64(item, "rows"));
      if (s.rows < 0) return make_error("stats: rows must be >= 0");
    }
    out.push_back(s);
  }
  return out;
}

Json trace_json(const StepTrace& t) {
  return Json{{"position", t.position}, {"round_trip_ms", t.round_trip_ms}, {"stats", stats_json(t.stages)}};
}

// A client lays these figures out as a timeline: every duration must be one (finite, not negative), every stage an
// index and every batch at least one step.
Result<StepTrace> trace_from(const Json& j) {
  LL_ASSIGN_OR_RETURN(const Json* obj, get_object(j, "trace", 8));
  StepTrace t;
  LL_ASSIGN_OR_RETURN(t.position, bounded(*obj, "position", 0, 1 << 24));
  LL_ASSIGN_OR_RETURN(t.round_trip_ms, non_negative(*obj, "round_trip_ms"));
  LL_ASSIGN_OR_RETURN(t.stages, stats_from(*obj));
  for (const StageStat& s : t.stages) {
    if (s.stage < 0 || s.stage >= static_cast<int64_t>(kMaxPlanStages)) return make_error("trace: stage out of range");
    if (s.compute_ms < 0 || s.queue_ms < 0) return make_error("trace: negative duration");
    if (s.batch < 1) return make_error("trace: batch below 1");
  }
  return t;
}

Result<std::vector<int64_t>> ints_from(const Json& j, const char* key, size_t max_items) {
  LL_ASSIGN_OR_RETURN(const Json* arr, get_array(j, key, max_items));
  std::vector<int64_t> out;
  out.reserve(arr->size());
  for (const Json& item : *arr) {
    if (!item.is_number_integer()) return make_error(std::string(key) + ": entries must be integers");
    out.push_back(item.get<int64_t>());
  }
  return out;
}

struct Encoder {
  std::vector<std::string> frames;
  Json head;
  bool tensors = true;  // false: the control frame alone
  Status add_tensor(const TensorFrame& t) {
    if (!tensors) return Status::Ok();
    LL_ASSIGN_OR_RETURN(std::string bytes, encode_tensor_frame(t));
    frames.push_back(std::move(bytes));
    return Status::Ok();
  }
  Status operator()(const GenerateMsg& m) {
    head.update({{"prompt", m.prompt},
                 {"max_tokens", m.max_tokens},
                 {"sampling", sampling_json(m.sampling)},
                 {"ignore_eos", m.ignore_eos}});
    if (!m.resume_tokens.empty()) head["resume"] = m.resume_tokens;
    if (m.trace) head["trace"] = true;
    if (!m.speculate.empty()) head["speculate"] = m.speculate;
    if (m.draft_tokens >= 0) head["draft_tokens"] = m.draft_tokens;
    return Status::Ok();
  }
  Status operator()(const CancelMsg& m) {
    head["session"] = m.session;
    return Status::Ok();
  }
  Status operator()(const ActivationMsg& m) {
    head.update({{"session", m.session},
                 {"plan_version", m.plan_version},
                 {"start_pos", m.start_pos},
                 {"sampling", sampling_json(m.sampling)},
                 {"stats", stats_json(m.stats)}});
    if (m.decode_rows > 0) head["decode_rows"] = m.decode_rows;
    if (!m.sample) head["sample"] = false;
    if (!m.draft.empty()) head["draft"] = m.draft;
    return add_tensor(m.hidden);
  }
  Status operator()(const TokenMsg& m) {
    head.update({{"session", m.session},
                 {"plan_version", m.plan_version},
                 {"position", m.position},
                 {"token", m.token},
                 {"stats", stats_json(m.stats)}});
    if (m.accepted > 0) head["accepted"] = m.accepted;
    return Status::Ok();
  }
  Status operator()(const SessionEndMsg& m) {
    head["session"] = m.session;
    return Status::Ok();
  }
  Status operator()(const StartedMsg& m) {
    head.update({{"session", m.session}, {"prompt_tokens", m.prompt_tokens}});
    return Status::Ok();
  }
  Status operator()(const TokensMsg& m) {
    head.update({{"session", m.session}, {"tokens", m.tokens}, {"text", m.text}});
    if (m.trace) head["trace"] = trace_json(*m.trace);
    return Status::Ok();
  }
  Status operator()(const DoneMsg& m) {
    head.update({{"session", m.session},
                 {"stop_reason", m.stop_reason},
                 {"prompt_tokens", m.prompt_tokens},
                 {"tokens", m.tokens},
                 {"text", m.text},
                 {"prefill_s", m.prefill_s},
                 {"decode_s", m.decode_s},
                 {"stages", m.stages}});
    if (!m.speculate.empty()) {
      head.update({{"speculate", m.speculate},
                   {"drafted", m.drafted},
                   {"accepted", m.accepted},
                   {"decode_steps", m.decode_steps}});
    }
    return Status::Ok();
  }
  Status operator()(const PlanMsg& m) {
    Json stages = Json::array();
    for (const auto& st : m.stages) {
      stages.push_back({{"device", st.device},
                        {"data_endpoint", st.data_endpoint},
                        {"deploy_endpoint", st.deploy_endpoint},
                        {"first_shard", st.first_shard},
                        {"last_shard", st.last_shard},
                        {"backup_shards", st.backup_shards}});
    }
    head.update({{"plan_version", m.plan_version},
                 {"term", m.term},
                 {"leader_deploy_endpoint", m.leader_deploy_endpoint},
                 {"manifest", m.manifest_json},
                 {"wire", m.wire},
                 {"max_sessions", m.max_sessions},
                 {"stages", stages}});
    if (!m.standby.empty()) {
      Json standby = Json::array();
      for (const auto& sb : m.standby) standby.push_back({{"device", sb.device}, {"backup_shards", sb.backup_shards}});
      head["standby"] = standby;
    }
    return Status::Ok();
  }
  Status operator()(const FetchMsg& m) {
    head.update({{"sha256", m.sha256}, {"offset", m.offset}, {"length", m.length}});
    return Status::Ok();
  }
  Status operator()(const ChunkMsg& m) {
    head.update({{"sha256", m.sha256}, {"offset", m.offset}, {"total", m.total}});
    return add_tensor(m.bytes);
  }
  Status operator()(const LoadProgressMsg& m) {
    head.update({{"plan_version", m.plan_version},
                 {"device", m.device},
                 {"state", m.state},
                 {"bytes_done", m.bytes_done},
                 {"bytes_total", m.bytes_total},
                 {"bytes_from_cache", m.bytes_from_cache},
                 {"error", m.error}});
    return Status::Ok();
  }
  Status operator()(const StepStatsMsg& m) {
    head.update({{"plan_version", m.plan_version}, {"session", m.session}, {"stats", stats_json(m.stats)}});
    return Status::Ok();
  }
  Status operator()(const DataErrorMsg& m) {
    head.update({{"code", m.code}, {"message", m.message}});
    return Status::Ok();
  }
};

}  // namespace

const char* data_message_name(const DataMessage& message) { return kNames[message.index()]; }

Result<std::vector<std::string>> encode_data_message(const DataMessage& message) {
  Encoder encoder;
  encoder.head = Json{{"v", kProtocolVersion}, {"type", data_message_name(message)}};
  LL_TRY_STATUS(std::visit(encoder, message));
  std::string control = encoder.head.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (control.size() > kMaxDataControlFrameBytes) return make_error("data message control frame too large");
  encoder.frames.insert(encoder.frames.begin(), std::move(control));
  return std::move(encoder.frames);
}

Result<std::string> encode_data_control_frame(const DataMessage& message) {
  Encoder encoder;
  encoder.tensors = false;
  encoder.head = Json{{"v", kProtocolVersion}, {"type", data_message_name(message)}};
  LL_TRY_STATUS(std::visit(encoder, message));
  std::string control = encoder.head.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (control.size() > kMaxDataControlFrameBytes) return make_error("data message control frame too large");
  return control;
}

bool speaks_other_version(const std::vector<std::string>& frames) {
  if (frames.empty()) return false;
  auto j = parse_control_json(frames[0], kMaxDataControlFrameBytes, kMaxJsonDepth);
  if (!j) return false;
  auto version = get_i64(*j, "v");
  return version.ok() && *version != kProtocolVersion;
}

Result<DataMessage> decode_data_message(const std::vector<std::string>& frames) {
  if (frames.empty()) return make_error("empty message");
  if (frames.size() > 2) return make_error("too many frames");
  // Control frames may carry a prompt or the full text of a finished generation, hence the larger bound.
  LL_ASSIGN_OR_RETURN(Json j, parse_control_json(frames[0], kMaxDataControlFrameBytes, kMaxJsonDepth));
  LL_ASSIGN_OR_RETURN(int64_t version, get_i64(j, "v"));
  if (version != kProtocolVersion) {
    return make_error("unsupported protocol version " + std::to_string(version) + " (this daemon speaks " +
                      std::to_string(kProtocolVersion) + ")");
  }
  LL_ASSIGN_OR_RETURN(std::string type, get_string(j, "type", 32));
  const bool wants_tensor = type == "activation" || type == "chunk";
  if (wants_tensor != (frames.size() == 2)) return make_error(type + ": wrong number of tensor frames");
  if (type == "generate") {
    GenerateMsg m;
    LL_ASSIGN_OR_RETURN(m.prompt, get_string(j, "prompt", kMaxPromptBytes));
    LL_ASSIGN_OR_RETURN(m.max_tokens, bounded(j, "max_tokens", 0, kMaxGenerateTokens));
    LL_ASSIGN_OR_RETURN(m.sampling, sampling_from(j));
    if (j.contains("ignore_eos")) {
      LL_ASSIGN_OR_RETURN(m.ignore_eos, get_bool(j, "ignore_eos"));
    }
    if (j.contains("resume")) {
      LL_ASSIGN_OR_RETURN(m.resume_tokens, ints_from(j, "resume", kMaxResumeTokens));
    }
    if (j.contains("trace")) {
      LL_ASSIGN_OR_RETURN(m.trace, get_bool(j, "trace"));
    }
    if (j.contains("speculate")) {
      LL_ASSIGN_OR_RETURN(m.speculate, get_string(j, "speculate", kMaxSpeculateBytes));
    }
    if (j.contains("draft_tokens")) {
      LL_ASSIGN_OR_RETURN(m.draft_tokens, bounded(j, "draft_tokens", 0, kMaxDraftTokens));
    }
    return DataMessage{m};
  }
  if (type == "cancel" || type == "session_end") {
    LL_ASSIGN_OR_RETURN(uint64_t session, get_u64(j, "session"));
    if (type == "cancel") return DataMessage{CancelMsg{session}};
    return DataMessage{SessionEndMsg{session}};
  }
  if (type == "activation") {
    ActivationMsg m;
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.plan_version, get_u64(j, "plan_version"));
    LL_ASSIGN_OR_RETURN(m.start_pos, bounded(j, "start_pos", 0, 1 << 24));
    LL_ASSIGN_OR_RETURN(m.sampling, sampling_from(j));
    LL_ASSIGN_OR_RETURN(m.stats, stats_from(j));
    LL_ASSIGN_OR_RETURN(m.hidden, decode_tensor_frame(frames[1]));
    if (m.hidden.dtype != DType::kF32 && m.hidden.dtype != DType::kF16) {
      return make_error("activation: hidden state must be f32 or f16");
    }
    if (m.hidden.shape.size() != 2 || m.hidden.shape[0] == 0) return make_error("activation: hidden must be [T, dim]");
    if (j.contains("decode_rows")) {
      LL_ASSIGN_OR_RETURN(m.decode_rows, bounded(j, "decode_rows", 0, m.hidden.shape[0]));
    }
    if (j.contains("sample")) {
      LL_ASSIGN_OR_RETURN(m.sample, get_bool(j, "sample"));
    }
    if (j.contains("draft")) {
      LL_ASSIGN_OR_RETURN(m.draft, ints_from(j, "draft", static_cast<size_t>(kMaxDraftTokens)));
      for (int64_t t : m.draft) {
        if (t < 0 || t > INT32_MAX) return make_error("activation: draft token out of range");
      }
      // A verified step is the last token and its draft, every row a decode row.
      if (!m.draft.empty() && (static_cast<int64_t>(m.draft.size()) + 1 != m.hidden.shape[0] ||
                               m.decode_rows != m.hidden.shape[0] || !m.sample)) {
        return make_error("activation: a draft must be the step's rows but its first, all decode rows, sampled");
      }
    }
    return DataMessage{std::move(m)};
  }
  if (type == "token") {
    TokenMsg m;
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.plan_version, get_u64(j, "plan_version"));
    LL_ASSIGN_OR_RETURN(m.position, bounded(j, "position", 0, 1 << 24));
    LL_ASSIGN_OR_RETURN(m.token, bounded(j, "token", 0, INT32_MAX));
    LL_ASSIGN_OR_RETURN(m.stats, stats_from(j));
    if (j.contains("accepted")) {
      LL_ASSIGN_OR_RETURN(m.accepted, bounded(j, "accepted", 0, std::min(kMaxDraftTokens, m.position)));
    }
    return DataMessage{std::move(m)};
  }
  if (type == "started") {
    StartedMsg m;
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.prompt_tokens, ints_from(j, "prompt_tokens", kMaxTokenList));
    return DataMessage{std::move(m)};
  }
  if (type == "tokens") {
    TokensMsg m;
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.tokens, ints_from(j, "tokens", kMaxTokenList));
    LL_ASSIGN_OR_RETURN(m.text, get_string(j, "text", kMaxDataControlFrameBytes));
    if (j.contains("trace")) {
      LL_ASSIGN_OR_RETURN(m.trace, trace_from(j));
    }
    return DataMessage{std::move(m)};
  }
  if (type == "done") {
    DoneMsg m;
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.stop_reason, get_string(j, "stop_reason", 32));
    LL_ASSIGN_OR_RETURN(m.prompt_tokens, ints_from(j, "prompt_tokens", kMaxTokenList));
    LL_ASSIGN_OR_RETURN(m.tokens, ints_from(j, "tokens", kMaxTokenList));
    LL_ASSIGN_OR_RETURN(m.text, get_string(j, "text", kMaxDataControlFrameBytes));
    LL_ASSIGN_OR_RETURN(m.prefill_s, get_number(j, "prefill_s"));
    LL_ASSIGN_OR_RETURN(m.decode_s, get_number(j, "decode_s"));
    LL_ASSIGN_OR_RETURN(m.stages, get_i64(j, "stages"));
    if (j.contains("speculate")) {
      LL_ASSIGN_OR_RETURN(m.speculate, get_string(j, "speculate", kMaxSpeculateBytes));
      LL_ASSIGN_OR_RETURN(m.drafted, bounded(j, "drafted", 0, INT32_MAX));
      LL_ASSIGN_OR_RETURN(m.accepted, bounded(j, "accepted", 0, m.drafted));
      LL_ASSIGN_OR_RETURN(m.decode_steps, bounded(j, "decode_steps", 0, INT32_MAX));
    }
    return DataMessage{std::move(m)};
  }
  if (type == "plan") {
    PlanMsg m;
    LL_ASSIGN_OR_RETURN(m.plan_version, get_u64(j, "plan_version"));
    LL_ASSIGN_OR_RETURN(m.term, get_u64(j, "term"));
    if (m.term > kMaxTerm) return make_error("plan: term over the limit");
    LL_ASSIGN_OR_RETURN(m.leader_deploy_endpoint, get_endpoint(j, "leader_deploy_endpoint"));
    LL_ASSIGN_OR_RETURN(m.manifest_json, get_string(j, "manifest", kMaxDataControlFrameBytes));
    LL_ASSIGN_OR_RETURN(m.wire, get_string(j, "wire", 16));
    if (m.wire != "float32" && m.wire != "float16") return make_error("plan: wire must be float32 or float16");
    if (j.contains("max_sessions")) {
      LL_ASSIGN_OR_RETURN(m.max_sessions, bounded(j, "max_sessions", 1, kMaxPlanSessions));
    }
    LL_ASSIGN_OR_RETURN(const Json* stages, get_array(j, "stages", kMaxPlanStages));
    if (stages->empty()) return make_error("plan: no stages");
    for (const Json& item : *stages) {
      if (!item.is_object()) return make_error("plan: stages must be objects");
      PlanStage st;
      LL_ASSIGN_OR_RETURN(st.device, get_name(item, "device"));
      LL_ASSIGN_OR_RETURN(st.data_endpoint, get_endpoint(item, "data_endpoint"));
      LL_ASSIGN_OR_RETURN(st.deploy_endpoint, get_endpoint(item, "deploy_endpoint"));
      LL_ASSIGN_OR_RETURN(st.first_shard, bounded(item, "first_shard", 0, kMaxShardIndex));
      LL_ASSIGN_OR_RETURN(st.last_shard, bounded(item, "last_shard", st.first_shard, kMaxShardIndex));
      LL_ASSIGN_OR_RETURN(st.backup_shards, ints_from(item, "backup_shards", kMaxShardIndex));
      m.stages.push_back(std::move(st));
    }
    if (j.contains("standby")) {
      LL_ASSIGN_OR_RETURN(const Json* standby, get_array(j, "standby", kMaxPlanStages));
      for (const Json& item : *standby) {
        if (!item.is_object()) return make_error("plan: standby entries must be objects");
        PlanStandby sb;
        LL_ASSIGN_OR_RETURN(sb.device, get_name(item, "device"));
        LL_ASSIGN_OR_RETURN(sb.backup_shards, ints_from(item, "backup_shards", kMaxShardIndex));
        m.standby.push_back(std::move(sb));
      }
    }
    return DataMessage{std::move(m)};
  }
  if (type == "fetch") {
    FetchMsg m;
    LL_ASSIGN_OR_RETURN(m.sha256, get_string(j, "sha256", 64));
    LL_ASSIGN_OR_RETURN(m.offset, get_u64(j, "offset"));
    LL_ASSIGN_OR_RETURN(m.length, get_u64(j, "length"));
    if (m.length == 0 || m.length > kMaxChunkBytes) return make_error("fetch: length out of range");
    return DataMessage{std::move(m)};
  }
  if (type == "chunk") {
    ChunkMsg m;
    LL_ASSIGN_OR_RETURN(m.sha256, get_string(j, "sha256", 64));
    LL_ASSIGN_OR_RETURN(m.offset, get_u64(j, "offset"));
    LL_ASSIGN_OR_RETURN(m.total, get_u64(j, "total"));
    LL_ASSIGN_OR_RETURN(m.bytes, decode_tensor_frame(frames[1]));
    if (m.bytes.dtype != DType::kU8 || m.bytes.shape.size() != 1) return make_error("chunk: bytes must be u8 [n]");
    if (m.offset > m.total || m.bytes.data.size() > m.total - m.offset) return make_error("chunk: outside the file");
    return DataMessage{std::move(m)};
  }
  if (type == "load_progress") {
    LoadProgressMsg m;
    LL_ASSIGN_OR_RETURN(m.plan_version, get_u64(j, "plan_version"));
    LL_ASSIGN_OR_RETURN(m.device, get_name(j, "device"));
    LL_ASSIGN_OR_RETURN(m.state, get_string(j, "state", 16));
    LL_ASSIGN_OR_RETURN(m.bytes_done, get_u64(j, "bytes_done"));
    LL_ASSIGN_OR_RETURN(m.bytes_total, get_u64(j, "bytes_total"));
    LL_ASSIGN_OR_RETURN(m.bytes_from_cache, get_u64(j, "bytes_from_cache"));
    LL_ASSIGN_OR_RETURN(m.error, get_string(j, "error", kMaxErrorMessageBytes));
    return DataMessage{std::move(m)};
  }
  if (type == "step_stats") {
    StepStatsMsg m;
    LL_ASSIGN_OR_RETURN(m.plan_version, get_u64(j, "plan_version"));
    LL_ASSIGN_OR_RETURN(m.session, get_u64(j, "session"));
    LL_ASSIGN_OR_RETURN(m.stats, stats_from(j));
    return DataMessage{std::move(m)};
  }
  if (type == "error") {
    DataErrorMsg m;
    LL_ASSIGN_OR_RETURN(m.code, get_string(j, "code", 64));
    LL_ASSIGN_OR_RETURN(m.message, get_string(j, "message", kMaxErrorMessageBytes));
    return DataMessage{std::move(m)};
  }
  return make_error("unknown data message type '" + type + "'");
}

uint16_t float_to_half(float value) {
  uint32_t x;
  std::memcpy(&x, &value, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exponent = (x >> 23) & 0xffu;
  uint32_t mantissa = x & 0x7fffffu;
  if (exponent == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0));  // inf / nan
  int32_t e = static_cast<int32_t>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {                                               // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: still correct
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t x;
  if (exponent == 0) {
    if (mantissa == 0) {
      x = sign;
    } else {  // subnormal: normalise
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400u)) {
        mantissa <<= 1;
        --exponent;
      }
      x = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
    }
  } else if (exponent == 31) {
    x = sign | 0x7f800000u | (mantissa << 13);
  } else {
    x = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &x, 4);
  return out;
}

}  // namespace ll::proto
