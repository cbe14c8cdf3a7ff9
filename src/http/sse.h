// Server-sent events framing for streamed completions: one `data: <json>` event per chunk, a blank line after
// each, and OpenAI's `data: [DONE]` terminator. Stateless; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace ll::http {

// One event carrying `payload` (JSON text, which never contains a raw newline). A payload with newlines is split
// over several data: lines, as the SSE format requires, so a client reassembles it exactly.
[[nodiscard]] std::string sse_event(std::string_view payload);
[[nodiscard]] inline std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace ll::http
