// The Prometheus text rendered from a topology document, and the HTTP address rules (src/http/metrics.h,
// src/http/server.h).
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <sstream>

#include "http/metrics.h"
#include "http/server.h"

using namespace ll::http;
using Json = nlohmann::json;

namespace {

Json topology() {
  return Json::parse(R"({
    "model": "stories260K", "plan_version": 7, "predicted_ms_per_token": 3.5,
    "replans": [{"from_version": 6, "to_version": 7, "reason": "slow"}, {"from_version": 7, "reason": "kept"}],
    "devices": [
      {"name": "a", "role": "leader", "state": "self", "memory_budget": 1000,
       "stage": {"index": 0, "memory_used_bytes": 600, "observed_ms": 1.25},
       "counters": {"compute_ms_avg": 1.1, "queue_depth": 2, "open_sessions": 3, "steps": 40, "tokens_generated": 39,
                    "replayed_sessions": 0, "bytes_sent": {"b": 4096}}},
      {"name": "b\"q", "role": "follower", "state": "dead", "memory_budget": 2000, "stage": null, "counters": null}
    ],
    "links": [{"from": "a", "to": "b", "rtt_ms": 0.5, "bandwidth_mbps": 80}]
  })");
}

std::string value_of(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  }
  return "(missing)";
}

}  // namespace

TEST_CASE("Metrics carry the cluster's counters with device and link labels", "[http]") {
  HttpCounters counters;
  counters.count_response(200);
  counters.count_response(401);
  counters.count_response(200);
  counters.add_completion_tokens(12);
  counters.observe_first_token(0.25);
  const std::string text = render_metrics(topology(), counters.snapshot());
  CHECK(value_of(text, "ll_cluster_up") == "1");
  CHECK(value_of(text, "ll_plan_version{model=\"stories260K\"}") == "7");
  CHECK(value_of(text, "ll_replans_total") == "1");  // the kept one was weighed, not made
  CHECK(value_of(text, "ll_replans_considered_total") == "2");
  CHECK(value_of(text, "ll_stage_step_ms{device=\"a\",stage=\"0\"}") == "1.25");
  CHECK(value_of(text, "ll_stage_queue_depth{device=\"a\"}") == "2");
  CHECK(value_of(text, "ll_stage_sessions{device=\"a\"}") == "3");
  CHECK(value_of(text, "ll_tokens_generated_total{device=\"a\"}") == "39");
  CHECK(value_of(text, "ll_link_bytes_sent_total{from=\"a\",to=\"b\"}") == "4096");
  CHECK(value_of(text, "ll_link_bandwidth_mbps{from=\"a\",to=\"b\"}") == "80");
  CHECK(value_of(text, "ll_device_up{device=\"b\\\"q\",role=\"follower\",state=\"dead\"}") == "0");
  CHECK(value_of(text, "ll_http_responses_total{code=\"200\"}") == "2");
  CHECK(value_of(text, "ll_http_completion_tokens_total") == "12");
  CHECK(value_of(text, "ll_http_first_token_seconds_count") == "1");
}

TEST_CASE("Every metrics line is a comment or a well-formed sample, each family typed once", "[http]") {
  const std::string text = render_metrics(topology(), HttpCounters().snapshot());
  const std::regex sample(R"(^([a-z_]+)(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+-]+(inf)?$)");
  std::istringstream in(text);
  std::string line;
  std::set<std::string> typed;
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      CHECK(typed.insert(name).second);
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    std::smatch m;
    INFO(line);
    REQUIRE(std::regex_match(line, m, sample));
    std::string family = m[1];
    for (const char* suffix : {"_sum", "_count"}) {
      const std::string s = suffix;
      if (!typed.count(family) && family.size() > s.size() &&
          family.compare(family.size() - s.size(), s.size(), s) == 0)
        family = family.substr(0, family.size() - s.size());
    }
    CHECK(typed.count(family) == 1);
    ++samples;
  }
  CHECK(samples > 20);
}

TEST_CASE("Without a cluster view only the HTTP counters appear", "[http]") {
  const std::string text = render_metrics(Json(), HttpCounters().snapshot());
  CHECK(value_of(text, "ll_cluster_up") == "0");
  CHECK(text.find("ll_stage_") == std::string::npos);
  CHECK(value_of(text, "ll_http_active_streams") == "0");
}

TEST_CASE("Label values are escaped", "[http]") { CHECK(escape_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd"); }

TEST_CASE("HTTP addresses: loopback needs no token, anything else does", "[http]") {
  auto a = parse_http_address("127.0.0.1:8080");
  REQUIRE(a.ok());
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 8080);
  CHECK(parse_http_address("[::1]:9000")->host == "::1");
  CHECK_FALSE(parse_http_address("8080").ok());
  CHECK_FALSE(parse_http_address("127.0.0.1:99999").ok());
  CHECK_FALSE(parse_http_address("127.0.0.1:").ok());
  CHECK_FALSE(parse_http_address("a b:80").ok());
  CHECK(check_http_security(*a, "").ok());
  CHECK(check_http_security(*parse_http_address("localhost:80"), "").ok());
  const auto wide = *parse_http_address("0.0.0.0:8080");
  CHECK_FALSE(check_http_security(wide, "").ok());
  CHECK(check_http_security(wide, "0123456789abcdef").ok());
  CHECK_FALSE(check_http_security(wide, "short").ok());
  CHECK_FALSE(check_http_security(wide, "0123456789 abcdef").ok());
}
