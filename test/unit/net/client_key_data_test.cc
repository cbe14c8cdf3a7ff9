// A client key (role client, CURVE-authenticated) against the data plane of a live cluster: it tries to write into
// and end another user's generation. Hidden (tag [.client_key_data]): run by test/integration/admission.sh with
// LL_KEYS (the client's keys folder), LL_HEAD_DATA (the head's data endpoint), LL_STAGE_DATA (another stage's) and
// LL_VICTIM (the victim's session id, as the head logged it). Every ring message is refused as "forbidden"; the
// cancel gets no answer, and the victim's generation must finish untouched (the script checks).
#include <catch2/catch.hpp>
#include <string>

#include "net/curve.h"
#include "proto/data_messages.h"
#include "unit/net/live_daemon.h"

using namespace std::chrono_literals;

namespace {

using ll::test::env;

std::string answer_code(const std::string& endpoint, const ll::proto::DataMessage& message,
                        std::chrono::milliseconds timeout = 2s) {
  return ll::test::data_answer_code(endpoint, message, timeout);
}

}  // namespace

TEST_CASE("a client key cannot write into or end another user's generation", "[.client_key_data]") {
  auto security = ll::net::load_keys_folder(env("LL_KEYS"), false);
  REQUIRE(security.ok());
  ll::net::install_security(std::move(security).value());
  const std::string head = env("LL_HEAD_DATA");
  const std::string stage = env("LL_STAGE_DATA");
  const uint64_t victim = std::stoull(env("LL_VICTIM"));
  const uint64_t plan_version = std::stoull(env("LL_PLAN_VERSION"));

  ll::proto::TokenMsg token;
  token.session = victim;
  token.plan_version = plan_version;
  token.position = 30;
  token.token = 5;
  CHECK(answer_code(head, token) == "forbidden");

  ll::proto::ActivationMsg activation;
  activation.session = victim;
  activation.plan_version = plan_version;
  activation.start_pos = 0;
  activation.hidden.dtype = ll::proto::DType::kF32;
  activation.hidden.shape = {1, 64};
  activation.hidden.data.assign(64 * 4, '\0');
  CHECK(answer_code(stage, activation) == "forbidden");

  CHECK(answer_code(stage, ll::proto::SessionEndMsg{victim}) == "forbidden");
  CHECK(answer_code(head, ll::proto::SessionEndMsg{victim}) == "forbidden");
  // A cancel is never answered; the head ignores one from a key that did not open the session.
  CHECK(answer_code(head, ll::proto::CancelMsg{victim}, 500ms) == "(no reply)");
}
