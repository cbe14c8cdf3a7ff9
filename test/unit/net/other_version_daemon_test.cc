// A daemon of the next protocol version, as far as the frozen fields go (docs/protocol.md, "Versions"): it answers
// every message on its listen socket with its unsupported_version refusal. Hidden (tag [.other_version]): run by
// test/integration/llctl_other_version.sh with LL_LISTEN set (and LL_KEYS for CURVE); prints "listening", then one
// "answered TYPE" line per answer, until LL_ANSWERS answers or 60 s.
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>

#include "net/curve.h"
#include "net/zmq_transport.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

using namespace std::chrono_literals;

TEST_CASE("a daemon of the next protocol version", "[.other_version]") {
  const char* listen = std::getenv("LL_LISTEN");
  REQUIRE(listen != nullptr);
  const char* keys = std::getenv("LL_KEYS");
  if (keys != nullptr && *keys) {
    auto security = ll::net::load_keys_folder(keys, true);
    REQUIRE(security.ok());
    ll::net::install_security(std::move(security).value());
  }
  const char* answers_env = std::getenv("LL_ANSWERS");
  const int answers = answers_env != nullptr ? std::atoi(answers_env) : 1;
  auto transport = ll::net::ZmqTransport::create(listen);
  REQUIRE(transport.ok());
  std::printf("listening %s\n", (*transport)->endpoint().c_str());
  std::fflush(stdout);
  const int next = ll::proto::kProtocolVersion + 1;
  int answered = 0;
  for (int waited_s = 0; answered < answers && waited_s < 60;) {
    auto in = (*transport)->receive(1s);
    if (!in) {
      ++waited_s;
      continue;
    }
    if (in->reply_route.empty() || in->frames.empty()) continue;
    auto request =
        ll::proto::parse_control_json(in->frames[0], ll::proto::kMaxControlFrameBytes, ll::proto::kMaxJsonDepth);
    auto type_field = request.ok() ? ll::proto::get_string(*request, "type", ll::proto::kMaxTypeNameBytes)
                                   : ll::Result<std::string>(ll::make_error("not JSON"));
    const std::string type = type_field.ok() ? *type_field : "?";
    const ll::proto::Json refusal = {
        {"v", next},
        {"type", "error"},
        {"term", 0},
        {"from", "future"},
        {"code", "unsupported_version"},
        {"message", "protocol version " + std::to_string(ll::proto::kProtocolVersion) + " is not supported"},
        {"in_reply_to", type}};
    REQUIRE((*transport)->reply(*in, {refusal.dump()}).ok());
    std::printf("answered %s\n", type.c_str());
    std::fflush(stdout);
    ++answered;
  }
}
