// The chat template, stop-sequence scanning and SSE framing (src/http/text.h, src/http/sse.h).
#include <catch2/catch.hpp>

#include "http/sse.h"
#include "http/text.h"

using namespace ll::http;

TEST_CASE("The chat template is the one docs/http.md shows", "[http]") {
  CHECK(chat_prompt({{"user", "Hi"}}) == "User: Hi\nAssistant:");
  CHECK(chat_prompt({{"system", "Be kind."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "A story?"}}) ==
        "Be kind.\n\nUser: Hi\nAssistant: Hello!\nUser: A story?\nAssistant:");
}

TEST_CASE("A stop sequence split over pieces is never sent", "[http]") {
  StopScanner s({"END"});
  std::string sent = s.push("once E");
  sent += s.push("N");
  CHECK_FALSE(s.stopped());
  sent += s.push("D and more");
  CHECK(s.stopped());
  CHECK(sent == "once ");
  CHECK(s.sent() == "once ");
  CHECK(s.push("later").empty());
  CHECK(s.finish().empty());
}

TEST_CASE("Held-back text that is not a stop is sent at the end", "[http]") {
  StopScanner s({"END", "\n\n"});
  std::string sent = s.push("the EN");
  CHECK(sent == "the ");  // "EN" may still become "END"
  sent += s.push("ding");
  sent += s.finish();
  CHECK(sent == "the ENding");
  CHECK_FALSE(s.stopped());
}

TEST_CASE("The earliest of several stop sequences wins", "[http]") {
  StopScanner s({"zz", "b"});
  CHECK(s.push("aab zz") == "aa");
  CHECK(s.stopped());
}

TEST_CASE("Without stop sequences text passes straight through", "[http]") {
  StopScanner s({});
  CHECK(s.push("a") == "a");
  CHECK(s.push("bc") == "bc");
  CHECK(s.finish().empty());
}

TEST_CASE("Held-back text is never cut inside a UTF-8 character", "[http]") {
  StopScanner s({"xyz"});
  // "é" is C3 A9; with two bytes held back a naive cut would fall between them.
  const std::string sent = s.push("caf\xC3\xA9!");
  CHECK(sent == "caf");
  CHECK(s.finish() == "\xC3\xA9!");
}

TEST_CASE("SSE framing: one data line per event, blank line after, [DONE] last", "[http]") {
  CHECK(sse_event(R"({"a":1})") == "data: {\"a\":1}\n\n");
  CHECK(sse_event("two\nlines") == "data: two\ndata: lines\n\n");
  CHECK(sse_event("") == "data: \n\n");
  CHECK(sse_done() == "data: [DONE]\n\n");
}
