#include "http/metrics.h"

#include <cstdio>
#include <sstream>
#include <vector>

namespace ll::http {
namespace {

using Json = nlohmann::json;

// One metric family: HELP and TYPE once, then its samples.
class Family {
 public:
  Family(std::ostringstream& out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  Family& sample(const std::vector<std::pair<std::string, std::string>>& labels, double value) {
    out_ << name_;
    if (!labels.empty()) {
      out_ << '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        out_ << (i ? "," : "") << labels[i].first << "=\"" << escape_label(labels[i].second) << '"';
      }
      out_ << '}';
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out_ << ' ' << buf << '\n';
    return *this;
  }

 private:
  std::ostringstream& out_;
  const char* name_;
};

double number(const Json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

void HttpCounters::count_response(int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++responses_[status];
}

void HttpCounters::observe_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  first_token_sum_ += seconds;
  ++first_token_count_;
}

HttpCounters::Snapshot HttpCounters::snapshot() const {
  Snapshot s;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    s.responses = responses_;
    s.first_token_seconds_sum = first_token_sum_;
    s.first_token_count = first_token_count_;
  }
  s.completion_tokens = completion_tokens_;
  const int64_t active = active_streams_;
  s.active_streams = active > 0 ? static_cast<uint64_t>(active) : 0;
  return s;
}

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string render_metrics(const Json& topology, const HttpCounters::Snapshot& http) {
  std::ostringstream out;
  const bool up = topology.is_object();
  Family(out, "ll_cluster_up", "gauge", "1 when this daemon's cluster view could be read").sample({}, up ? 1 : 0);
  if (up) {
    const Json devices = topology.value("devices", Json::array());
    Family(out, "ll_plan_version", "gauge", "version of the plan in force (0: no model loaded)")
        .sample({{"model", topology.value("model", "")}}, number(topology, "plan_version"));
    // The leader's history holds every re-plan it weighed; those with a new version were made.
    const Json replans = topology.value("replans", Json::array());
    double made = 0;
    for (const auto& r : replans) made += r.is_object() && r.contains("to_version") ? 1 : 0;
    Family(out, "ll_replans_total", "counter", "re-plans made for the loaded model (load balancing, device loss)")
        .sample({}, made);
    Family(out, "ll_replans_considered_total", "counter", "re-plans the leader weighed, made or kept")
        .sample({}, static_cast<double>(replans.size()));
    Family(out, "ll_predicted_ms_per_token", "gauge", "the planner's predicted time per token")
        .sample({}, number(topology, "predicted_ms_per_token"));
    Family info(out, "ll_device_up", "gauge", "1 for each device this daemon knows that is alive (or itself)");
    for (const auto& d : devices) {
      const std::string state = d.value("state", "");
      info.sample({{"device", d.value("name", "")}, {"role", d.value("role", "")}, {"state", state}},
                  state == "alive" || state == "self" ? 1 : 0);
    }
    Family budget(out, "ll_device_memory_budget_bytes", "gauge", "memory a device offers for shards and KV cache");
    for (const auto& d : devices) budget.sample({{"device", d.value("name", "")}}, number(d, "memory_budget"));
    Family used(out, "ll_stage_memory_used_bytes", "gauge", "memory the plan gives a device's stage");
    for (const auto& d : devices) {
      if (d.contains("stage") && d["stage"].is_object()) {
        used.sample({{"device", d.value("name", "")}}, number(d["stage"], "memory_used_bytes"));
      }
    }
    Family step(out, "ll_stage_step_ms", "gauge", "observed time of one pipeline step per stage (leader's average)");
    for (const auto& d : devices) {
      if (d.contains("stage") && d["stage"].is_object() && d["stage"].value("observed_ms", Json()).is_number()) {
        step.sample({{"device", d.value("name", "")}, {"stage", std::to_string(d["stage"].value("index", 0))}},
                    number(d["stage"], "observed_ms"));
      }
    }
    // The device's own counters (asked of each device).
    struct Counter {
      const char* name;
      const char* type;
      const char* key;
      const char* help;
    };
    const Counter counters[] = {
        {"ll_stage_compute_ms", "gauge", "compute_ms_avg", "moving average of one forward pass on a device"},
        {"ll_stage_queue_depth", "gauge", "queue_depth", "steps waiting for a device's shards at its last batch"},
        {"ll_stage_sessions", "gauge", "open_sessions", "sessions with a KV cache open on a device"},
        {"ll_stage_steps_total", "counter", "steps", "forward passes run by a device"},
        {"ll_tokens_generated_total", "counter", "tokens_generated", "tokens generated by a head stage"},
        {"ll_sessions_replayed_total", "counter", "replayed_sessions", "sessions rebuilt on a new plan"},
    };
    for (const auto& c : counters) {
      Family f(out, c.name, c.type, c.help);
      for (const auto& d : devices) {
        if (d.contains("counters") && d["counters"].is_object()) {
          f.sample({{"device", d.value("name", "")}}, number(d["counters"], c.key));
        }
      }
    }
    Family bytes(out, "ll_link_bytes_sent_total", "counter", "data-plane bytes a device sent to another");
    for (const auto& d : devices) {
      if (!d.contains("counters") || !d["counters"].is_object()) continue;
      const Json sent = d["counters"].value("bytes_sent", Json::object());  // named: items() must not outlive it
      for (const auto& [to, n] : sent.items()) {
        bytes.sample({{"from", d.value("name", "")}, {"to", to}}, n.is_number() ? n.get<double>() : 0);
      }
    }
    const Json links = topology.value("links", Json::array());
    {
      Family bw(out, "ll_link_bandwidth_mbps", "gauge", "measured link bandwidth, megabytes per second");
      for (const auto& l : links)
        bw.sample({{"from", l.value("from", "")}, {"to", l.value("to", "")}}, number(l, "bandwidth_mbps"));
    }
    Family rtt(out, "ll_link_rtt_ms", "gauge", "measured link round-trip time");
    for (const auto& l : links)
      rtt.sample({{"from", l.value("from", "")}, {"to", l.value("to", "")}}, number(l, "rtt_ms"));
  }
  Family responses(out, "ll_http_responses_total", "counter", "HTTP responses of this daemon's API, by status");
  for (const auto& [status, n] : http.responses) {
    responses.sample({{"code", std::to_string(status)}}, static_cast<double>(n));
  }
  Family(out, "ll_http_completion_tokens_total", "counter", "tokens sent to HTTP clients")
      .sample({}, static_cast<double>(http.completion_tokens));
  Family(out, "ll_http_active_streams", "gauge", "completions being generated for HTTP clients now")
      .sample({}, static_cast<double>(http.active_streams));
  // A summary without quantiles: sum and count give the mean time to first token.
  out << "# HELP ll_http_first_token_seconds time from an HTTP completion request to its first token\n"
      << "# TYPE ll_http_first_token_seconds summary\n";
  char buf[96];
  std::snprintf(buf, sizeof buf, "ll_http_first_token_seconds_sum %.17g\n", http.first_token_seconds_sum);
  out << buf << "ll_http_first_token_seconds_count " << http.first_token_count << '\n';
  return out.str();
}

}  // namespace ll::http
