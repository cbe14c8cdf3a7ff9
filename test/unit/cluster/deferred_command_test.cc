// A deferred command (load: solved on the planner thread) over the in-process transport on a manual clock: the node
// answers when the answer is given, from any thread, and goes on serving meanwhile.
#include <catch2/catch.hpp>
#include <thread>

#include "cluster/node.h"
#include "common/log.h"
#include "net/inproc_transport.h"

using namespace std::chrono_literals;

namespace {

struct Fixture {
  ll::ManualClock clock;
  ll::net::InprocHub hub{clock};
  ll::net::InprocTransport server{hub, "inproc://server"};
  ll::net::InprocTransport client{hub, "inproc://client"};
  std::unique_ptr<ll::cluster::Node> node;
  std::vector<ll::cluster::Dispatcher::Answer> pending;  // answers the test gives later
  Fixture() {
    ll::set_log_level(ll::LogLevel::kError);
    ll::cluster::NodeConfig c;
    c.name = "server";
    node = std::make_unique<ll::cluster::Node>(c, server, clock);
    node->dispatcher().add_deferred(
        ll::proto::MessageType::kLoad, ll::proto::MessageType::kPlanInfo,
        [this](const ll::proto::Envelope&, ll::cluster::Dispatcher::Answer answer) { pending.push_back(answer); });
    REQUIRE(node->start().ok());
  }
  void send(const std::string& json) { REQUIRE(client.send("inproc://server", {json}).ok()); }
  std::optional<ll::proto::Envelope> answer() {
    auto in = client.receive(0ms);
    if (!in) return std::nullopt;
    auto d = ll::proto::decode_message(in->frames);
    REQUIRE(std::holds_alternative<ll::proto::Envelope>(d));
    return std::get<ll::proto::Envelope>(d);
  }
};

const char* kLoad = R"({"v":1,"type":"load","term":0,"from":"llctl","body":{}})";
const char* kStatus = R"({"v":1,"type":"get_status","term":0,"from":"llctl"})";

}  // namespace

TEST_CASE("DeferredCommandIsAnsweredWhenItsAnswerIsGivenAndTheNodeServesMeanwhile", "[node][deferred]") {
  Fixture f;
  f.send(kLoad);
  f.node->poll_once(0ms);
  REQUIRE(f.pending.size() == 1);
  CHECK_FALSE(f.answer());  // nothing yet: the solve is still running elsewhere
  f.send(kStatus);          // the node answers others meanwhile
  f.node->poll_once(0ms);
  auto status = f.answer();
  REQUIRE(status);
  CHECK(status->type == ll::proto::MessageType::kStatus);
  std::thread planner([&] { f.pending[0](ll::proto::Json{{"version", 7}}); });  // answered on another thread
  planner.join();
  f.node->poll_once(0ms);
  auto plan = f.answer();
  REQUIRE(plan);
  CHECK(plan->type == ll::proto::MessageType::kPlanInfo);
  CHECK(plan->body["version"] == 7);
  CHECK(plan->from == "server");
}

TEST_CASE("DeferredCommandThatFailsIsAnsweredWithAnError", "[node][deferred]") {
  Fixture f;
  f.send(kLoad);
  f.node->poll_once(0ms);
  REQUIRE(f.pending.size() == 1);
  f.pending[0](ll::make_error("the cluster cannot hold the model"));
  f.node->poll_once(0ms);
  auto reply = f.answer();
  REQUIRE(reply);
  CHECK(reply->type == ll::proto::MessageType::kError);
  CHECK(reply->body.value("message", "") == "the cluster cannot hold the model");
}

TEST_CASE("AnswerGivenAfterTheNodeIsGoneIsDropped", "[node][deferred]") {
  Fixture f;
  f.send(kLoad);
  f.node->poll_once(0ms);
  REQUIRE(f.pending.size() == 1);
  f.node.reset();
  f.pending[0](ll::proto::Json{{"version", 1}});  // must not touch the destroyed node (ASan would say so)
  CHECK_FALSE(f.answer());
}
