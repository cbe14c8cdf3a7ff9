// The deploy endpoint over the in-process transport: it hands plans, fetches and progress to its handler, refuses
// everything else clearly, never answers an answer, and keeps serving after garbage.
#include <catch2/catch.hpp>

#include "deploy/deploy_server.h"
#include "net/inproc_transport.h"

using namespace ll;

namespace {

proto::LoadProgressMsg progress() {
  proto::LoadProgressMsg m;
  m.plan_version = 1;
  m.device = "dev1";
  m.state = "ready";
  return m;
}

proto::GenerateMsg generate() {
  proto::GenerateMsg m;
  m.prompt = "Once";
  m.max_tokens = 1;
  return m;
}

struct Fixture {
  ManualClock clock;
  net::InprocHub hub{clock};
  std::vector<std::string> handled;
  deploy::DeployServer server{std::make_unique<net::InprocTransport>(hub, "deploy"),
                              [this](const net::Sender&, proto::DataMessage&& m) -> std::optional<proto::DataMessage> {
                                handled.push_back(proto::data_message_name(m));
                                if (std::holds_alternative<proto::FetchMsg>(m))
                                  return proto::DataMessage{proto::DataErrorMsg{"bad_request", "not announced"}};
                                return std::nullopt;
                              }};
  net::InprocTransport peer{hub, "peer"};

  void send(const proto::DataMessage& m) {
    auto frames = proto::encode_data_message(m);
    REQUIRE(frames.ok());
    REQUIRE(peer.send("deploy", *frames).ok());
  }
  std::vector<std::string> answers() {
    server.turn(Duration(0));
    std::vector<std::string> out;
    while (auto in = peer.receive(Duration(0))) {
      auto m = proto::decode_data_message(in->frames);
      REQUIRE(m.ok());
      auto* e = std::get_if<proto::DataErrorMsg>(&*m);
      out.push_back(e ? e->code : proto::data_message_name(*m));
    }
    return out;
  }
};

}  // namespace

TEST_CASE("DeployRequestsReachTheHandlerAndOthersAreRefused", "[deploy_server]") {
  Fixture f;
  f.send(progress());
  f.send(proto::FetchMsg{std::string(64, 'a'), 0, 10});
  f.send(generate());  // a data-plane request sent to the wrong endpoint
  CHECK(f.answers() == std::vector<std::string>{"bad_request", "bad_request"});
  CHECK(f.handled == std::vector<std::string>{"load_progress", "fetch"});
}

TEST_CASE("GarbageAndOtherVersionsAreAnsweredAndServingGoesOn", "[deploy_server]") {
  Fixture f;
  REQUIRE(f.peer.send("deploy", {"\xff garbage"}).ok());
  REQUIRE(f.peer.send("deploy", {R"({"v":9,"type":"fetch"})"}).ok());
  CHECK(f.answers() == std::vector<std::string>{"malformed", "unsupported_version"});
  f.send(progress());
  CHECK(f.answers().empty());
  CHECK(f.handled == std::vector<std::string>{"load_progress"});
}

TEST_CASE("AnErrorSentToTheDeployEndpointIsNotAnsweredBack", "[deploy_server]") {
  Fixture f;
  f.send(proto::DataErrorMsg{"internal", "from a confused peer"});
  CHECK(f.answers().empty());
  CHECK(f.handled.empty());
}
