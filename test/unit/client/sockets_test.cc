// The client's two socket paths on loopback against stand-ins for a daemon: the control calls (control_client.h)
// against a ZmqTransport that answers as the test says, and the head stream (head_stream.h) against a bare ROUTER
// that plays the head stage. Every wait is bounded by the call's own timeout; none is a sleep.
#include <catch2/catch.hpp>

#include <future>
#include <zmq.hpp>

#include "client/control_client.h"
#include "client/head_stream.h"
#include "net/zmq_transport.h"

using namespace ll;
using namespace ll::client;
using namespace std::chrono_literals;

namespace {

// Answers the next control request with `reply` (an envelope), within 5 s.
void answer_one(net::ZmqTransport& daemon, const proto::Envelope& reply) {
  std::optional<net::Incoming> in;
  for (int i = 0; i < 100 && !in; ++i) in = daemon.receive(50ms);
  REQUIRE(in);
  auto frames = proto::encode_message(reply);
  REQUIRE(frames.ok());
  REQUIRE(daemon.reply(*in, *frames).ok());
}

proto::Envelope envelope(proto::MessageType type, proto::Json body) {
  proto::Envelope e;
  e.type = type;
  e.from = "fake-daemon";
  e.body = std::move(body);
  return e;
}

// A head stage that the test drives frame by frame.
struct FakeHead {
  zmq::context_t context{1};
  zmq::socket_t router{context, zmq::socket_type::router};
  std::string endpoint;
  std::string client_identity;
  FakeHead() {
    router.set(zmq::sockopt::linger, 0);
    router.bind("tcp://127.0.0.1:*");
    endpoint = router.get(zmq::sockopt::last_endpoint);
  }
  proto::DataMessage receive() {
    router.set(zmq::sockopt::rcvtimeo, 5000);
    zmq::message_t identity;
    REQUIRE(router.recv(identity));
    client_identity = identity.to_string();
    std::vector<std::string> frames;
    zmq::message_t part;
    do {
      REQUIRE(router.recv(part));
      frames.push_back(part.to_string());
    } while (part.more());
    auto message = proto::decode_data_message(frames);
    REQUIRE(message.ok());
    return *message;
  }
  void send(const proto::DataMessage& message) {
    auto frames = proto::encode_data_message(message);
    REQUIRE(frames.ok());
    router.send(zmq::buffer(client_identity), zmq::send_flags::sndmore);
    for (size_t i = 0; i < frames->size(); ++i) {
      router.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
};

proto::GenerateMsg generate() {
  proto::GenerateMsg g;
  g.prompt = "Once";
  g.max_tokens = 3;
  return g;
}

}  // namespace

TEST_CASE("ADaemonsErrorReplyIsADaemonErrorWithItsMessage", "[client][control]") {
  auto daemon = net::ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(daemon.ok());
  ControlClient control({(*daemon)->endpoint()}, "test", 3000ms);
  auto plan = std::async(std::launch::async, [&] { return control.get_plan(); });
  proto::ErrorBody error{"not_leader", "not the leader; the leader is b", "get_plan"};
  answer_one(**daemon, envelope(proto::MessageType::kError, error.to_json()));
  auto result = plan.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kDaemonError);
  CHECK(result.error().message == "not the leader; the leader is b");
}

TEST_CASE("AReplyOfAnotherTypeIsMalformed", "[client][control]") {
  auto daemon = net::ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(daemon.ok());
  ControlClient control({(*daemon)->endpoint()}, "test", 3000ms);
  auto plan = std::async(std::launch::async, [&] { return control.get_plan(); });
  answer_one(**daemon, envelope(proto::MessageType::kSpeedSet, {{"speed", 1.0}}));
  auto result = plan.get();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kMalformed);
}

TEST_CASE("APlanReplyIsTypedOnceForTheCaller", "[client][control]") {
  auto daemon = net::ZmqTransport::create("tcp://127.0.0.1:0");
  REQUIRE(daemon.ok());
  // The first endpoint is not one: it is skipped for the next.
  ControlClient control(std::vector<std::string>{"not an endpoint", (*daemon)->endpoint()}, "test", 3000ms);
  auto head = std::async(std::launch::async, [&] { return control.current_head(); });
  answer_one(**daemon,
             envelope(proto::MessageType::kPlanInfo,
                      {{"version", 4}, {"model", "stories260K"}, {"head_data_endpoint", "tcp://127.0.0.1:7801"}}));
  auto result = head.get();
  REQUIRE(result.ok());
  CHECK(result->endpoint == "tcp://127.0.0.1:7801");
  CHECK(result->version == 4);
  CHECK(result->model == "stories260K");
}

TEST_CASE("NoAnswerIsATimeoutNamingTheEndpoint", "[client][control]") {
  ControlClient control({"tcp://127.0.0.1:1"}, "test", 300ms);
  auto result = control.get_devices();
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().code == ErrorCode::kTimeout);
  CHECK_THAT(result.error().message, Catch::Contains("tcp://127.0.0.1:1"));
}

TEST_CASE("AHeadsRefusalKeepsItsCode", "[client][head_stream]") {
  FakeHead head;
  auto opened = std::async(std::launch::async, [&] { return HeadStream::open(head.endpoint, generate(), 5000ms); });
  REQUIRE(std::holds_alternative<proto::GenerateMsg>(head.receive()));
  head.send(proto::DataErrorMsg{"not_ready", "plan 3 is still loading"});
  auto stream = opened.get();
  REQUIRE_FALSE(stream.ok());
  CHECK(stream.error().code == ErrorCode::kNotReady);
  CHECK(stream.error().message == "plan 3 is still loading");
}

TEST_CASE("AHeadThatClosesItsConnectionMidStreamIsLost", "[client][head_stream]") {
  auto head = std::make_unique<FakeHead>();
  auto opened = std::async(std::launch::async, [&] { return HeadStream::open(head->endpoint, generate(), 5000ms); });
  REQUIRE(std::holds_alternative<proto::GenerateMsg>(head->receive()));
  head->send(proto::StartedMsg{7, {1, 2}});
  auto stream = opened.get();
  REQUIRE(stream.ok());
  CHECK((*stream)->started().session == 7);
  proto::TokensMsg piece;
  piece.session = 7;
  piece.tokens = {42};
  piece.text = "x";
  head->send(piece);
  HeadEvent first = (*stream)->next(5000ms);
  REQUIRE(std::holds_alternative<proto::TokensMsg>(first));
  CHECK(std::get<proto::TokensMsg>(first).text == "x");
  head.reset();  // the head process dies: its socket closes
  HeadEvent next = (*stream)->next(5000ms);
  REQUIRE(std::holds_alternative<ClientError>(next));
  CHECK(std::get<ClientError>(next).code == ErrorCode::kLost);
}

TEST_CASE("AHeadThatNeverAnswersIsATimeoutAtOpen", "[client][head_stream]") {
  FakeHead head;  // accepts the connection, never answers
  auto stream = HeadStream::open(head.endpoint, generate(), 300ms);
  REQUIRE_FALSE(stream.ok());
  CHECK(stream.error().code == ErrorCode::kTimeout);
}

TEST_CASE("NoHeadListeningIsLostAfterTheConnectTimeout", "[client][head_stream]") {
  HeadStreamOptions options;
  options.connect_timeout = 200ms;
  auto stream = HeadStream::open("tcp://127.0.0.1:1", generate(), 5000ms, options);
  REQUIRE_FALSE(stream.ok());
  CHECK(stream.error().code == ErrorCode::kLost);
}
