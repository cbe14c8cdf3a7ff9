// The resume loop (src/client/resume.h) against a scripted cluster and scripted head sessions, on a manual clock:
// every wait of the loop advances the clock instead of sleeping, so these run in microseconds and decide nothing by
// timing.
#include <catch2/catch.hpp>

#include <deque>

#include "client/resume.h"

using namespace ll;
using namespace ll::client;

namespace {

using std::chrono::milliseconds;

// A head session that yields a fixed script of events, then repeats its last one.
class ScriptedSession final : public HeadSession {
 public:
  ScriptedSession(uint64_t session, std::deque<HeadEvent> events) : events_(std::move(events)) {
    started_.session = session;
  }
  const proto::StartedMsg& started() const override { return started_; }
  HeadEvent next(milliseconds) override {
    if (events_.size() > 1) {
      HeadEvent e = events_.front();
      events_.pop_front();
      return e;
    }
    return events_.front();
  }
  void cancel() override { cancelled_ = true; }
  bool cancelled() const override { return cancelled_; }

 private:
  proto::StartedMsg started_;
  std::deque<HeadEvent> events_;
  bool cancelled_ = false;
};

// Opens what it is told to, in order, and remembers every request it was asked to open.
class ScriptedConnector final : public HeadConnector {
 public:
  struct Opened {
    std::string endpoint;
    proto::GenerateMsg request;
  };
  void then_open(std::deque<HeadEvent> events) { answers_.push_back(std::move(events)); }
  void then_refuse(ErrorCode code) { answers_.push_back(ClientError{code, std::string(error_code_name(code))}); }
  ClientResult<std::unique_ptr<HeadSession>> open(const std::string& endpoint, const proto::GenerateMsg& request,
                                                  milliseconds) override {
    opened.push_back({endpoint, request});
    REQUIRE_FALSE(answers_.empty());
    auto answer = std::move(answers_.front());
    answers_.pop_front();
    if (auto* error = std::get_if<ClientError>(&answer)) return *error;
    return std::unique_ptr<HeadSession>(
        new ScriptedSession(opened.size(), std::get<std::deque<HeadEvent>>(std::move(answer))));
  }
  std::vector<Opened> opened;

 private:
  std::deque<std::variant<std::deque<HeadEvent>, ClientError>> answers_;
};

// Answers where the head is from a script; the last answer repeats.
class ScriptedLocator final : public HeadLocator {
 public:
  explicit ScriptedLocator(std::deque<ClientResult<HeadRef>> answers) : answers_(std::move(answers)) {}
  ClientResult<HeadRef> locate() override {
    ++asked;
    if (answers_.size() > 1) {
      auto a = answers_.front();
      answers_.pop_front();
      return a;
    }
    return answers_.front();
  }
  void head_lost() override { ++losses; }
  int asked = 0;
  int losses = 0;

 private:
  std::deque<ClientResult<HeadRef>> answers_;
};

proto::TokensMsg piece(std::vector<int64_t> tokens, std::string text) {
  proto::TokensMsg t;
  t.tokens = std::move(tokens);
  t.text = std::move(text);
  return t;
}

proto::DoneMsg done(std::string stop_reason = "max_tokens") {
  proto::DoneMsg d;
  d.stop_reason = std::move(stop_reason);
  return d;
}

ClientError lost() { return ClientError{ErrorCode::kLost, "lost the head stage: the connection dropped"}; }

const HeadRef kFirstHead{"tcp://127.0.0.1:9001", 1, "stories260K", ""};
const HeadRef kSecondHead{"tcp://127.0.0.1:9002", 2, "stories260K", ""};

struct Fixture {
  ManualClock clock;
  int waits = 0;
  ResumeOptions options() {
    ResumeOptions o;
    o.resume_timeout = milliseconds(5000);
    o.retry_interval = milliseconds(200);
    o.clock = &clock;
    o.wait = [this](milliseconds d) {
      ++waits;
      clock.advance(d);
    };
    return o;
  }
};

// Everything a stream yields until its end or error: the text, and the final event.
struct Drained {
  std::string text;
  HeadEvent last;
};

Drained drain(ResumingStream& stream) {
  Drained out{"", ClientError{}};
  for (int i = 0; i < 100; ++i) {
    HeadEvent e = stream.next();
    if (auto* t = std::get_if<proto::TokensMsg>(&e)) {
      out.text += t->text;
      continue;
    }
    out.last = e;
    return out;
  }
  FAIL("the stream did not end");
  return out;
}

}  // namespace

TEST_CASE("ResumeAsksAgainWhenTheHeadIsLost", "[client][resume]") {
  Fixture f;
  // The cluster has not re-planned at the first question, then names a new head.
  ScriptedLocator locator({kFirstHead, kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({10, 11}, "Once "), piece({12}, "upon"), lost()});
  connector.then_open({piece({13}, " a"), done()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<proto::DoneMsg>(d.last));
  CHECK(d.text == "Once upon a");
  CHECK(locator.losses == 1);
  CHECK(locator.asked == 2);  // the unchanged plan was asked about again
  REQUIRE(connector.opened.size() == 2);
  CHECK(connector.opened[1].endpoint == kSecondHead.endpoint);
  CHECK(connector.opened[1].request.resume_tokens == std::vector<int64_t>{10, 11, 12});
  CHECK(stream.head().endpoint == kSecondHead.endpoint);
}

TEST_CASE("ResumeOpensAgainWhileTheNewHeadIsNotReady", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  connector.then_refuse(ErrorCode::kNotReady);
  connector.then_refuse(ErrorCode::kTimeout);
  connector.then_open({piece({2}, "b"), done()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<proto::DoneMsg>(d.last));
  CHECK(d.text == "ab");
  CHECK(connector.opened.size() == 4);
}

TEST_CASE("ResumeGivesUpWhenTheClusterDoesNotReplanInTime", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kFirstHead});  // never re-plans
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<ClientError>(d.last));
  const auto& error = std::get<ClientError>(d.last);
  CHECK(error.code == ErrorCode::kUnavailable);
  CHECK_THAT(error.message, Catch::Contains("did not re-plan"));
  CHECK(f.waits == 25);  // 5 s of 200 ms waits: bounded by the resume timeout
  CHECK(connector.opened.size() == 1);
}

TEST_CASE("ANewHeadThatRefusesTheRequestEndsTheResume", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  connector.then_refuse(ErrorCode::kBadRequest);
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<ClientError>(d.last));
  CHECK(std::get<ClientError>(d.last).code == ErrorCode::kBadRequest);
  CHECK(locator.asked == 1);
}

TEST_CASE("AClusterThatCannotContinueEndsTheResume", "[client][resume]") {
  Fixture f;
  HeadRef failed = kSecondHead;
  failed.error = "no placement fits the survivors";
  ScriptedLocator locator({failed});
  ScriptedConnector connector;
  connector.then_open({lost()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<ClientError>(d.last));
  CHECK(std::get<ClientError>(d.last).code == ErrorCode::kUnavailable);
  CHECK_THAT(std::get<ClientError>(d.last).message, Catch::Contains("no placement fits the survivors"));
  CHECK(connector.opened.size() == 1);
}

TEST_CASE("ALostHeadIsFinalWhenResumingIsOff", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  ResumeOptions options = f.options();
  options.resume_timeout = milliseconds(0);
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, options);
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<ClientError>(d.last));
  CHECK(std::get<ClientError>(d.last).code == ErrorCode::kLost);
  CHECK(locator.asked == 0);
}

TEST_CASE("ACancelledStreamIsNotResumed", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  CHECK(std::holds_alternative<proto::TokensMsg>(stream.next()));
  stream.cancel();
  HeadEvent e = stream.next();
  REQUIRE(std::holds_alternative<ClientError>(e));
  CHECK(std::get<ClientError>(e).code == ErrorCode::kLost);
  CHECK(locator.asked == 0);
}

TEST_CASE("TheStopFlagCancelsTheSessionAndPreventsAResume", "[client][resume]") {
  Fixture f;
  std::atomic<bool> stop{false};
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1}, "a"), lost()});
  ResumeOptions options = f.options();
  options.stop = &stop;
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, options);
  REQUIRE(stream.open(kFirstHead).ok());
  CHECK(std::holds_alternative<proto::TokensMsg>(stream.next()));
  stop = true;
  HeadEvent e = stream.next();
  CHECK(stream.cancelled());
  REQUIRE(std::holds_alternative<ClientError>(e));
  CHECK(std::get<ClientError>(e).code == ErrorCode::kLost);
  CHECK(locator.asked == 0);
}

TEST_CASE("KeepAlivesAreNotPiecesOfTheStream", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kFirstHead});
  ScriptedConnector connector;
  connector.then_open({piece({}, ""), piece({}, ""), piece({5}, "x"), done()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  HeadEvent e = stream.next();
  REQUIRE(std::holds_alternative<proto::TokensMsg>(e));
  CHECK(std::get<proto::TokensMsg>(e).tokens == std::vector<int64_t>{5});
  CHECK(std::holds_alternative<proto::DoneMsg>(stream.next()));
}

TEST_CASE("AHeadLostBeforeItAcceptedIsResumedLikeOneLostMidStream", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_refuse(ErrorCode::kLost);
  connector.then_open({piece({1}, "a"), done()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  auto started = stream.open(kFirstHead);
  REQUIRE(started.ok());
  CHECK(started->session == 2);
  CHECK(stream.head().endpoint == kSecondHead.endpoint);
  CHECK(drain(stream).text == "a");
}

TEST_CASE("AHeadRefusalAtOpenIsReturnedAsItIs", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_refuse(ErrorCode::kBusy);
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  auto started = stream.open(kFirstHead);
  REQUIRE_FALSE(started.ok());
  CHECK(started.error().code == ErrorCode::kBusy);
  CHECK(locator.asked == 0);
}

TEST_CASE("ResumeReportsTheLossAndTheResumption", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({1, 2}, "ab"), lost()});
  connector.then_open({done()});
  std::string lost_head, resumed_on;
  size_t tokens_at_loss = 0, tokens_kept = 0;
  ResumeEvents events;
  events.on_lost = [&](const HeadRef& head, const ClientError&, size_t tokens) {
    lost_head = head.endpoint;
    tokens_at_loss = tokens;
  };
  events.on_resumed = [&](const HeadRef& head, Duration, size_t kept) {
    resumed_on = head.endpoint;
    tokens_kept = kept;
  };
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options(), events);
  REQUIRE(stream.open(kFirstHead).ok());
  CHECK(std::holds_alternative<proto::DoneMsg>(drain(stream).last));
  CHECK(lost_head == kFirstHead.endpoint);
  CHECK(resumed_on == kSecondHead.endpoint);
  CHECK(tokens_at_loss == 2);
  CHECK(tokens_kept == 2);
}

TEST_CASE("AHeadThatMovedOnAReplanIsFollowedToTheNewHead", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({10, 11}, "Once "), done("head_moved")});
  connector.then_open({piece({12}, "upon"), done()});
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, f.options());
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<proto::DoneMsg>(d.last));
  CHECK(std::get<proto::DoneMsg>(d.last).stop_reason == "max_tokens");
  CHECK(d.text == "Once upon");
  REQUIRE(connector.opened.size() == 2);
  CHECK(connector.opened[1].endpoint == kSecondHead.endpoint);
  CHECK(connector.opened[1].request.resume_tokens == std::vector<int64_t>{10, 11});
}

TEST_CASE("AMovedHeadIsAnErrorWhenResumingIsOff", "[client][resume]") {
  Fixture f;
  ScriptedLocator locator({kSecondHead});
  ScriptedConnector connector;
  connector.then_open({piece({10}, "Once"), done("head_moved")});
  ResumeOptions options = f.options();
  options.resume_timeout = milliseconds(0);
  ResumingStream stream(locator, connector, proto::GenerateMsg{}, options);
  REQUIRE(stream.open(kFirstHead).ok());
  Drained d = drain(stream);
  REQUIRE(std::holds_alternative<ClientError>(d.last));
  CHECK(std::get<ClientError>(d.last).code == ErrorCode::kUnavailable);
  CHECK(connector.opened.size() == 1);
}
