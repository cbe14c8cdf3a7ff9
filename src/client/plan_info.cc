// Reading a plan_info reply into PlanInfo: every field checked for its kind, absent fields left at their defaults.
// Thread-safety: stateless.
#include "client/plan_info.h"

#include <cmath>

namespace ll::client {
namespace {

using proto::Json;

constexpr size_t kMaxItems = 1 << 16;  // stages, devices, re-plans: far above any real cluster

// Typed reads of optional fields; the first field of the wrong kind is remembered and fails the whole reply.
class Reader {
 public:
  explicit Reader(std::string where) : where_(std::move(where)) {}
  void text(const Json& o, const char* key, std::string& out) {
    if (const Json* v = find(o, key, Json::value_t::string)) out = v->get<std::string>();
  }
  void u64(const Json& o, const char* key, uint64_t& out) {
    const Json* v = o.is_object() ? find_any(o, key) : nullptr;
    if (!v) return;
    if (v->is_number_unsigned() || (v->is_number_integer() && v->get<int64_t>() >= 0)) {
      out = v->get<uint64_t>();
    } else {
      bad(key, "a non-negative integer");
    }
  }
  void i64(const Json& o, const char* key, int64_t& out) {
    const Json* v = o.is_object() ? find_any(o, key) : nullptr;
    if (!v) return;
    if (v->is_number_integer())
      out = v->get<int64_t>();
    else
      bad(key, "an integer");
  }
  // A number; null (how JSON writes a NaN) reads as 0.
  void number(const Json& o, const char* key, double& out) {
    const Json* v = o.is_object() ? find_any(o, key) : nullptr;
    if (!v) return;
    if (v->is_number())
      out = v->get<double>();
    else if (v->is_null())
      out = 0;
    else
      bad(key, "a number");
  }
  void flag(const Json& o, const char* key, bool& out) {
    if (const Json* v = find(o, key, Json::value_t::boolean)) out = v->get<bool>();
  }
  const Json* array(const Json& o, const char* key) {
    const Json* v = find(o, key, Json::value_t::array);
    if (v && v->size() > kMaxItems) {
      bad(key, "at most " + std::to_string(kMaxItems) + " items");
      return nullptr;
    }
    return v;
  }
  const Json* object(const Json& o, const char* key) { return find(o, key, Json::value_t::object); }
  void bad(const std::string& key, const std::string& expected) {
    if (error_.empty()) error_ = "malformed " + where_ + ": '" + key + "' is not " + expected;
  }
  const std::string& error() const { return error_; }

 private:
  const Json* find_any(const Json& o, const char* key) {
    auto it = o.find(key);
    return it == o.end() ? nullptr : &*it;
  }
  const Json* find(const Json& o, const char* key, Json::value_t kind) {
    const Json* v = o.is_object() ? find_any(o, key) : nullptr;
    if (!v || v->is_null()) return nullptr;
    if (v->type() == kind) return v;
    bad(key, kind == Json::value_t::string    ? "a string"
             : kind == Json::value_t::boolean ? "true or false"
             : kind == Json::value_t::array   ? "an array"
                                              : "an object");
    return nullptr;
  }
  std::string where_;
  std::string error_;
};

PlanStage read_stage(Reader& r, const Json& s) {
  PlanStage out;
  if (!s.is_object()) {
    r.bad("stages", "an array of objects");
    return out;
  }
  r.text(s, "device", out.device);
  r.i64(s, "first_shard", out.first_shard);
  r.i64(s, "last_shard", out.last_shard);
  r.text(s, "layers", out.layers);
  r.u64(s, "memory_used_bytes", out.memory_used_bytes);
  r.u64(s, "memory_budget_bytes", out.memory_budget_bytes);
  r.number(s, "compute_s", out.compute_s);
  r.number(s, "transfer_s", out.transfer_s);
  r.u64(s, "bytes_sent_per_token", out.bytes_sent_per_token);
  if (const Json* backups = r.array(s, "backup_shards")) {
    for (const auto& b : *backups) {
      if (b.is_number_integer())
        out.backup_shards.push_back(b.get<int64_t>());
      else
        r.bad("backup_shards", "an array of integers");
    }
  }
  return out;
}

DeviceProgress read_progress(Reader& r, const Json& d) {
  DeviceProgress out;
  if (!d.is_object()) {
    r.bad("devices", "an array of objects");
    return out;
  }
  r.text(d, "device", out.device);
  r.text(d, "state", out.state);
  r.text(d, "error", out.error);
  r.u64(d, "bytes_done", out.bytes_done);
  r.u64(d, "bytes_total", out.bytes_total);
  r.u64(d, "bytes_from_cache", out.bytes_from_cache);
  r.number(d, "rate_bytes_per_s", out.rate_bytes_per_s);
  return out;
}

Replan read_replan(Reader& r, const Json& j) {
  Replan out;
  if (!j.is_object()) {
    r.bad("replans", "an array of objects");
    return out;
  }
  r.u64(j, "from_version", out.from_version);
  if (j.contains("to_version")) {
    uint64_t to = 0;
    r.u64(j, "to_version", to);
    out.to_version = to;
  }
  r.text(j, "reason", out.reason);
  return out;
}

StageCounters read_counters(Reader& r, const Json& c) {
  StageCounters out;
  r.u64(c, "plan_version", out.plan_version);
  r.u64(c, "open_sessions", out.open_sessions);
  r.u64(c, "steps", out.steps);
  r.u64(c, "batched_steps", out.batched_steps);
  r.u64(c, "tokens_generated", out.tokens_generated);
  r.u64(c, "replayed_sessions", out.replayed_sessions);
  r.number(c, "compute_ms_avg", out.compute_ms_avg);
  r.u64(c, "queue_depth", out.queue_depth);
  r.number(c, "emulated_speed", out.emulated_speed);
  if (const Json* sent = r.object(c, "bytes_sent")) {
    for (const auto& [endpoint, bytes] : sent->items()) {
      uint64_t n = 0;
      r.u64(Json{{endpoint, bytes}}, endpoint.c_str(), n);
      out.bytes_sent[endpoint] = n;
    }
  }
  return out;
}

}  // namespace

ClientResult<PlanInfo> parse_plan_info(const Json& body) {
  if (!body.is_object()) return ClientError{ErrorCode::kMalformed, "malformed plan_info: not an object"};
  Reader r("plan_info");
  PlanInfo p;
  r.u64(body, "version", p.version);
  r.u64(body, "term", p.term);
  r.text(body, "model", p.model);
  r.text(body, "head_data_endpoint", p.head_data_endpoint);
  r.text(body, "error", p.error);
  r.flag(body, "dry_run", p.dry_run);
  r.text(body, "objective", p.objective);
  if (body.contains("predicted_s_per_token")) {
    double predicted = 0;
    r.number(body, "predicted_s_per_token", predicted);
    p.predicted_s_per_token = predicted;
  }
  r.number(body, "one_stream_s_per_token", p.one_stream_s_per_token);
  r.number(body, "pipeline_s_per_token", p.pipeline_s_per_token);
  r.text(body, "solver", p.solver);
  r.text(body, "status", p.status);
  r.number(body, "solve_seconds", p.solve_seconds);
  r.text(body, "cost_source", p.cost_source);
  r.text(body, "prediction_source", p.prediction_source);
  if (body.contains("planned_s_per_token")) {
    double planned = 0;
    r.number(body, "planned_s_per_token", planned);
    p.planned_s_per_token = planned;
  }
  if (const Json* stages = r.array(body, "stages")) {
    for (const auto& s : *stages) p.stages.push_back(read_stage(r, s));
  }
  if (const Json* observed = r.array(body, "observed_stage_ms")) {
    for (const auto& ms : *observed) {
      if (ms.is_number())
        p.observed_stage_ms.push_back(std::isfinite(ms.get<double>()) ? ms.get<double>() : 0);
      else if (ms.is_null())
        p.observed_stage_ms.push_back(0);
      else
        r.bad("observed_stage_ms", "an array of numbers");
    }
  }
  if (const Json* devices = r.array(body, "devices")) {
    for (const auto& d : *devices) p.devices.push_back(read_progress(r, d));
  }
  if (const Json* replans = r.array(body, "replans")) {
    for (const auto& j : *replans) p.replans.push_back(read_replan(r, j));
  }
  if (const Json* stage = r.object(body, "stage")) p.stage = read_counters(r, *stage);
  if (!p.head_data_endpoint.empty() && !proto::valid_endpoint(p.head_data_endpoint)) {
    r.bad("head_data_endpoint", "an endpoint");
  }
  if (!r.error().empty()) return ClientError{ErrorCode::kMalformed, r.error()};
  p.raw = body;
  return p;
}

}  // namespace ll::client
