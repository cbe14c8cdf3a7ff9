// libFuzzer target: the HTTP API's request parser ll::http::parse_completion_request on arbitrary bodies, as a
// completion and as a chat (scripts/fuzz). A request that parses must render through the chat template, its stop
// sequences must cut a text fed in arbitrary pieces exactly where a whole-text search cuts it (and never send a
// stop), and the responses built from it must be valid JSON that parses back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>

#include "http/api.h"
#include "http/sse.h"
#include "http/text.h"

namespace {

using namespace ll::http;

void require(bool condition) {
  if (!condition) std::abort();
}

void check_stops(const CompletionRequest& r, const std::string& text) {
  size_t first = std::string::npos;
  for (const auto& s : r.stop) first = std::min(first, text.find(s));
  StopScanner scanner(r.stop);
  std::string sent;
  for (size_t pos = 0, step = 1; pos < text.size(); pos += step, step = step % 7 + 1) {
    sent += scanner.push(text.substr(pos, step));
    if (scanner.stopped()) break;
  }
  sent += scanner.finish();
  require(sent == text.substr(0, first));
  require(scanner.stopped() == (first != std::string::npos));
  for (const auto& s : r.stop) require(sent.find(s) == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (Endpoint endpoint : {Endpoint::kCompletions, Endpoint::kChat}) {
    ParsedRequest parsed = parse_completion_request(body, endpoint, 1 << 20);
    if (auto* error = std::get_if<ApiError>(&parsed)) {
      require(error->status == 400 && !error->message.empty());
      require(Json::parse(dump(error_json(*error)))["error"]["message"] == error->message);
      continue;
    }
    const CompletionRequest& r = std::get<CompletionRequest>(parsed);
    require(r.max_tokens >= 0 && r.max_tokens <= (1 << 20) && r.temperature >= 0 && r.temperature <= 2);
    require(r.top_p > 0 && r.top_p <= 1 && r.stop.size() <= kMaxStops);
    const std::string prompt = endpoint == Endpoint::kChat ? chat_prompt(r.messages) : r.prompt;
    check_stops(r, prompt);
    const Json reply = Json::parse(dump(completion_json("c", 1, r.model, prompt, "stop", Usage{1, 2})));
    require(reply["model"].is_string());
    require(sse_event(dump(chat_chunk("c", 1, r.model, prompt, "", true))).find("\n\n") != std::string::npos);
  }
  return 0;
}
