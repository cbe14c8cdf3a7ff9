// The head stage's errors as HTTP answers (src/http/errors.h): status, OpenAI error body and headers.
#include <catch2/catch.hpp>

#include "http/errors.h"

using namespace ll;
using namespace ll::http;

TEST_CASE("BusyHeadIsA429WithRetryAfterAndAnOpenAIErrorBody", "[http]") {
  const client::ClientError busy{client::ErrorCode::kBusy, "the head stage has 64 generations in flight"};
  httplib::Response res;
  send_error(res, head_error(busy, Endpoint::kCompletions));
  CHECK(res.status == 429);
  REQUIRE(res.has_header("Retry-After"));
  CHECK(std::stoi(res.get_header_value("Retry-After")) >= 1);
  const Json body = Json::parse(res.body);
  CHECK(body["error"]["code"] == "busy");
  CHECK(body["error"]["message"] == busy.message);
  CHECK(body["error"].contains("type"));
  CHECK(body["error"]["param"].is_null());
  CHECK(res.get_header_value("Content-Type") == "application/json");
  // Only busy asks for a retry: the other refusals would fail again the same way.
  for (auto code : {client::ErrorCode::kBadRequest, client::ErrorCode::kNotReady, client::ErrorCode::kInternal,
                    client::ErrorCode::kTimeout, client::ErrorCode::kUnavailable}) {
    httplib::Response res;
    send_error(res, head_error(client::ClientError{code, "x"}, Endpoint::kChat));
    CHECK(res.status != 429);
    CHECK_FALSE(res.has_header("Retry-After"));
  }
}
