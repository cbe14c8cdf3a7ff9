// Text shaping for the HTTP API: the chat template that turns messages into one prompt (docs/http.md, "Chat
// template"), and the stop-sequence scanner that cuts a streamed answer at the first stop string without ever having
// sent a byte of it. Thread-safety: chat_prompt is stateless; a StopScanner belongs to one stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/api.h"

namespace ll::http {

// The prompt for a chat: each system message's text then a blank line; "User: TEXT\n" and "Assistant: TEXT\n" for
// the turns; and "Assistant:" last, where the model continues.
[[nodiscard]] std::string chat_prompt(const std::vector<ChatMessage>& messages);

// Feed the streamed text piece by piece; it returns what may be sent now. Text that could be the beginning of a stop
// sequence is held back until it is known not to be one (and never split inside a UTF-8 character).
class StopScanner {
 public:
  explicit StopScanner(std::vector<std::string> stops);
  // The text safe to send after `piece`; once a stop sequence is seen, stopped() is true and nothing more comes.
  [[nodiscard]] std::string push(std::string_view piece);
  // The held-back rest, at the end of a stream that was not stopped.
  [[nodiscard]] std::string finish();
  [[nodiscard]] bool stopped() const { return stopped_; }
  // All text sent so far (what the answer is).
  [[nodiscard]] const std::string& sent() const { return sent_; }

 private:
  std::vector<std::string> stops_;
  size_t hold_ = 0;      // longest stop minus one: bytes that may still start a stop
  std::string pending_;  // received, not sent
  std::string sent_;
  bool stopped_ = false;
};

}  // namespace ll::http
