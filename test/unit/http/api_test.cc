// Request validation and response shapes of the OpenAI-compatible API (src/http/api.h).
#include <catch2/catch.hpp>

#include "http/api.h"

using namespace ll::http;

namespace {

constexpr int64_t kLimit = 1 << 20;

CompletionRequest ok(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  auto parsed = parse_completion_request(body, endpoint, kLimit);
  if (auto* e = std::get_if<ApiError>(&parsed)) FAIL("unexpected error: " << e->message);
  return std::get<CompletionRequest>(parsed);
}

ApiError refused(const std::string& body, Endpoint endpoint = Endpoint::kCompletions) {
  auto parsed = parse_completion_request(body, endpoint, kLimit);
  REQUIRE(std::holds_alternative<ApiError>(parsed));
  return std::get<ApiError>(parsed);
}

}  // namespace

TEST_CASE("A minimal completion request gets OpenAI's defaults", "[http]") {
  auto r = ok(R"({"model":"m","prompt":"Once"})");
  CHECK(r.model == "m");
  CHECK(r.prompt == "Once");
  CHECK(r.max_tokens == kDefaultCompletionTokens);
  CHECK(r.temperature == 1.0);
  CHECK(r.top_p == 1.0);
  CHECK_FALSE(r.has_seed);
  CHECK_FALSE(r.stream);
  CHECK(r.stop.empty());
}

TEST_CASE("Every sampling field maps onto the request", "[http]") {
  auto r = ok(R"({"model":"m","prompt":["Hi"],"max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,"seed":42,
                  "stop":["\n","END"],"stream":true,"stream_options":{"include_usage":true},"user":"ignored"})");
  CHECK(r.prompt == "Hi");
  CHECK(r.max_tokens == 7);
  CHECK(r.temperature == 0.0);
  CHECK(r.top_p == 0.5);
  CHECK(r.top_k == 3);
  CHECK(r.has_seed);
  CHECK(r.seed == 42);
  CHECK(r.stop == std::vector<std::string>{"\n", "END"});
  CHECK(r.stream);
  CHECK(r.include_usage);
}

TEST_CASE("A chat request reads messages, text parts and max_completion_tokens", "[http]") {
  auto r = ok(R"({"model":"m","messages":[{"role":"developer","content":"Be brief."},
                  {"role":"user","content":[{"type":"text","text":"Hel"},{"type":"text","text":"lo"}]}],
                  "max_completion_tokens":5})",
              Endpoint::kChat);
  REQUIRE(r.messages.size() == 2);
  CHECK(r.messages[0].role == "system");
  CHECK(r.messages[1].content == "Hello");
  CHECK(r.max_tokens == 5);
  // Without a limit a chat runs to the end of the answer (or of the context).
  CHECK(ok(R"({"model":"m","messages":[{"role":"user","content":"x"}]})", Endpoint::kChat).max_tokens == kLimit);
}

TEST_CASE("Malformed or out-of-range requests are 400s naming the field", "[http]") {
  CHECK(refused("{\"model\":").message == "request body is not valid JSON");
  CHECK(refused("[1,2]").message == "request body must be a JSON object");
  CHECK(refused(std::string(100, '[') + std::string(100, ']')).message == "request body is nested too deeply");
  CHECK(refused(R"({"prompt":"x"})").param == "model");
  CHECK(refused(R"({"model":"m"})").param == "prompt");
  CHECK(refused(R"({"model":"m","prompt":[1,2,3]})").param == "prompt");
  CHECK(refused(R"({"model":"m","prompt":"x","max_tokens":-1})").param == "max_tokens");
  CHECK(refused(R"({"model":"m","prompt":"x","max_tokens":2.5})").param == "max_tokens");
  CHECK(refused(R"({"model":"m","prompt":"x","max_tokens":99999999})").param == "max_tokens");
  CHECK(refused(R"({"model":"m","prompt":"x","temperature":2.5})").param == "temperature");
  CHECK(refused(R"({"model":"m","prompt":"x","temperature":"hot"})").param == "temperature");
  CHECK(refused(R"({"model":"m","prompt":"x","top_p":0})").param == "top_p");
  CHECK(refused(R"({"model":"m","prompt":"x","seed":-3})").param == "seed");
  CHECK(refused(R"({"model":"m","prompt":"x","stop":["a","b","c","d","e"]})").param == "stop");
  CHECK(refused(R"({"model":"m","prompt":"x","stop":[""]})").param == "stop");
  CHECK(refused(R"({"model":"m","prompt":"x","n":2})").param == "n");
  CHECK(refused(R"({"model":"m","prompt":"x","stream":"yes"})").param == "stream");
  CHECK(refused(R"({"model":"m","messages":[]})", Endpoint::kChat).param == "messages");
  CHECK(refused(R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", Endpoint::kChat).param ==
        "messages[0].role");
  CHECK(refused(R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})", Endpoint::kChat)
            .param == "messages[0].content");
  for (const char* body : {"", "null", "\"x\"", "{\"model\":1,\"prompt\":\"x\"}"}) {
    CHECK(refused(body).status == 400);
  }
}

TEST_CASE("NonStringTypeInAChatContentPartIsA400NotAThrow", "[http]") {
  // nlohmann's value("type", "") throws type_error on a number: that was a 500 from the exception handler.
  for (const char* part : {R"({"type":5,"text":"x"})", R"({"type":null,"text":"x"})", R"({"type":["text"],"text":"x"})",
                           R"({"type":"text","text":5})", R"({"type":"text"})", R"(7)"}) {
    const std::string body = std::string(R"({"model":"m","messages":[{"role":"user","content":[)") + part + "]}]}";
    ParsedRequest parsed = ParsedRequest(bad_request(""));
    REQUIRE_NOTHROW(parsed = parse_completion_request(body, Endpoint::kChat, kLimit));
    REQUIRE(std::holds_alternative<ApiError>(parsed));
    const ApiError& e = std::get<ApiError>(parsed);
    CHECK(e.status == 400);
    CHECK(e.param == "messages[0].content");
    CHECK(e.message.find("text") != std::string::npos);
  }
}

TEST_CASE("Errors have OpenAI's shape, with null for an absent param and code", "[http]") {
  const Json j = error_json(bad_request("bad", "top_p"));
  CHECK(j["error"]["message"] == "bad");
  CHECK(j["error"]["type"] == "invalid_request_error");
  CHECK(j["error"]["param"] == "top_p");
  CHECK(j["error"]["code"].is_null());
  CHECK(error_json(bad_request("bad"))["error"]["param"].is_null());
}

TEST_CASE("Stop reasons map onto finish_reason; failures map to none", "[http]") {
  CHECK(finish_reason("eos", false) == "stop");
  CHECK(finish_reason("cancelled", true) == "stop");
  CHECK(finish_reason("max_tokens", false) == "length");
  CHECK(finish_reason("context", false) == "length");
  CHECK(finish_reason("replanned", false).empty());
  CHECK(finish_reason("error", false).empty());
}

TEST_CASE("Responses and chunks carry what the openai client reads", "[http]") {
  const Json c = completion_json("cmpl-1", 5, "m", "text", "length", Usage{3, 4});
  CHECK(c["object"] == "text_completion");
  CHECK(c["choices"][0]["text"] == "text");
  CHECK(c["usage"]["total_tokens"] == 7);
  const Json chat = chat_completion_json("chatcmpl-1", 5, "m", "hi", "stop", Usage{1, 1});
  CHECK(chat["choices"][0]["message"]["role"] == "assistant");
  CHECK(chat["choices"][0]["message"]["content"] == "hi");
  const Json first = chat_chunk("chatcmpl-1", 5, "m", "", "", true);
  CHECK(first["object"] == "chat.completion.chunk");
  CHECK(first["choices"][0]["delta"]["role"] == "assistant");
  CHECK(first["choices"][0]["finish_reason"].is_null());
  const Json last = chat_chunk("chatcmpl-1", 5, "m", "", "stop", false);
  CHECK(last["choices"][0]["delta"].empty());
  CHECK(last["choices"][0]["finish_reason"] == "stop");
  CHECK(usage_chunk(Endpoint::kChat, "x", 5, "m", Usage{2, 3})["choices"].empty());
  // A model may emit invalid UTF-8: the JSON text is still valid.
  const std::string text = dump(completion_chunk("c", 1, "m", "ok" + std::string("\xff\xfe", 2), ""));
  CHECK(Json::parse(text)["choices"][0]["text"] == "ok\xEF\xBF\xBD\xEF\xBF\xBD");  // U+FFFD twice
}

TEST_CASE("SpeculateAndDraftTokensReachTheGenerateRequest", "[http][speculation]") {
  auto r = ok(R"({"model":"m","prompt":"Once","speculate":"ngram","draft_tokens":8,"seed":9,"top_k":4})");
  const ll::proto::GenerateMsg g = generate_message(r, "Once", 9);
  CHECK(g.prompt == "Once");
  CHECK(g.max_tokens == kDefaultCompletionTokens);
  CHECK(g.speculate == "ngram");
  CHECK(g.draft_tokens == 8);
  CHECK(g.sampling.seed == 9);
  CHECK(g.sampling.top_k == 4);
  CHECK(ok(R"({"model":"m","prompt":"x","speculate":"draft:stories260K-exit2"})").speculate ==
        "draft:stories260K-exit2");
  CHECK(ok(R"({"model":"m","prompt":"x","speculate":"off","draft_tokens":0})").draft_tokens == 0);
  CHECK(ok(R"({"model":"m","prompt":"x","draft_tokens":16})").draft_tokens == 16);
  // Absent (or null): the head's defaults, which the wire spells "" and -1.
  const auto plain =
      ok(R"({"model":"m","messages":[{"role":"user","content":"x"}],"speculate":null})", Endpoint::kChat);
  const ll::proto::GenerateMsg d = generate_message(plain, "User: x\nAssistant:", 1);
  CHECK(d.speculate.empty());
  CHECK(d.draft_tokens == -1);
}

TEST_CASE("BadSpeculateOrDraftTokensIsA400NamingTheField", "[http][speculation]") {
  for (const char* value :
       {R"("fast")", R"("draft:")", R"("draft:../pkg")", R"("draft:a b")", R"("NGRAM")", "1", "true", R"(["ngram"])"}) {
    const ApiError e = refused(std::string(R"({"model":"m","prompt":"x","speculate":)") + value + "}");
    INFO(value);
    CHECK(e.status == 400);
    CHECK(e.param == "speculate");
    CHECK(e.message.find('\n') == std::string::npos);
  }
  CHECK(refused(R"({"model":"m","prompt":"x","speculate":")" + std::string("draft:") + std::string(65, 'a') + "\"}")
            .param == "speculate");
  for (const char* value : {"-1", "17", "2.5", R"("4")", "1e9"}) {
    const ApiError e = refused(std::string(R"({"model":"m","prompt":"x","draft_tokens":)") + value + "}");
    INFO(value);
    CHECK(e.status == 400);
    CHECK(e.param == "draft_tokens");
    CHECK(e.message == "'draft_tokens' must be an integer in 0..16");
  }
}

TEST_CASE("UsageCarriesTheSpeculationFiguresOnlyWhenTheGenerationSpeculated", "[http][speculation]") {
  ll::proto::DoneMsg done;
  done.prompt_tokens = {1, 2, 3};
  done.tokens = {4, 5, 6, 7, 8};
  done.speculate = "ngram";
  done.drafted = 6;
  done.accepted = 4;
  done.decode_steps = 2;
  const Usage usage = usage_of(done);
  for (const Json& j :
       {completion_json("c", 1, "m", "t", "length", usage), chat_completion_json("c", 1, "m", "t", "length", usage),
        usage_chunk(Endpoint::kChat, "c", 1, "m", usage)}) {
    CHECK(j["usage"]["prompt_tokens"] == 3);
    CHECK(j["usage"]["completion_tokens"] == 5);
    CHECK(j["usage"]["speculation"]["mode"] == "ngram");
    CHECK(j["usage"]["speculation"]["drafted"] == 6);
    CHECK(j["usage"]["speculation"]["accepted"] == 4);
    CHECK(j["usage"]["speculation"]["decode_steps"] == 2);
  }
  done.speculate = "";
  CHECK_FALSE(completion_json("c", 1, "m", "t", "stop", usage_of(done))["usage"].contains("speculation"));
  done.speculate = "off";
  CHECK_FALSE(completion_json("c", 1, "m", "t", "stop", usage_of(done))["usage"].contains("speculation"));
}
