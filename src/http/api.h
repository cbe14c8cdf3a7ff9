// The OpenAI-compatible request and response shapes (docs/http.md): validation of a completion or chat completion
// request body into one CompletionRequest, the error object {"error":{message,type,param,code}} with its HTTP
// status, and the JSON of responses and stream chunks. Bytes in, values out: no sockets. Thread-safety: value types
// and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/data_messages.h"

namespace ll::http {

using Json = nlohmann::json;

inline constexpr int kMaxJsonDepth = 16;
inline constexpr size_t kMaxStops = 4;
inline constexpr size_t kMaxStopBytes = 256;
inline constexpr size_t kMaxMessages = 256;
inline constexpr size_t kMaxModelNameBytes = 256;
inline constexpr int64_t kDefaultCompletionTokens = 16;  // OpenAI's default for /v1/completions

// An error as OpenAI reports it, with the HTTP status it travels under.
struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;      // "" -> null
  std::string code;       // "" -> null
  int retry_after_s = 0;  // > 0: sent as Retry-After (a refusal that passes, e.g. a busy head)
};
[[nodiscard]] Json error_json(const ApiError& error);
[[nodiscard]] ApiError bad_request(std::string message, std::string param = "");

enum class Endpoint { kCompletions, kChat };

struct ChatMessage {
  std::string role;  // system | user | assistant
  std::string content;
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::string prompt;                 // completions
  std::vector<ChatMessage> messages;  // chat
  int64_t max_tokens = 0;             // filled with the endpoint's default when absent
  double temperature = 1.0;
  double top_p = 1.0;
  int64_t top_k = 0;  // extension (llama.cpp has it): 0 = all tokens
  bool has_seed = false;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Speculative decoding (extensions, as llctl generate --speculate/--draft-tokens): "" and -1 leave the head's
  // defaults. The text is the same either way; only the speed differs.
  std::string speculate;      // off | ngram | draft:<name>
  int64_t draft_tokens = -1;  // 0..proto::kMaxDraftTokens
};

using ParsedRequest = std::variant<CompletionRequest, ApiError>;

// Parses and validates a request body; every problem is a 400 naming the field. `max_tokens_limit` bounds
// max_tokens (the protocol's limit). Unknown fields are ignored, as OpenAI's own server does for many of them.
[[nodiscard]] ParsedRequest parse_completion_request(std::string_view body, Endpoint endpoint,
                                                     int64_t max_tokens_limit);

// The data plane's generate request for a validated request: `prompt` is the request's text (the chat template
// already applied), `seed` the request's seed or a random one.
[[nodiscard]] proto::GenerateMsg generate_message(const CompletionRequest& request, std::string prompt, uint64_t seed);

// Maps the pipeline's stop reason onto OpenAI's finish_reason ("stop" | "length"); "" when it is a failure.
[[nodiscard]] std::string finish_reason(const std::string& stop_reason, bool stopped_by_sequence);

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  // When the generation speculated (the done message's figures): usage.speculation {mode, drafted, accepted,
  // decode_steps} — an extension OpenAI's clients pass through.
  std::string speculate = "";
  int64_t drafted = 0;
  int64_t accepted = 0;
  int64_t decode_steps = 0;
};
// Usage from the head's done message (prompt tokens include BOS).
[[nodiscard]] Usage usage_of(const proto::DoneMsg& done);

// Whole responses (stream: false).
[[nodiscard]] Json completion_json(const std::string& id, int64_t created, const std::string& model,
                                   const std::string& text, const std::string& finish, const Usage& usage);
[[nodiscard]] Json chat_completion_json(const std::string& id, int64_t created, const std::string& model,
                                        const std::string& text, const std::string& finish, const Usage& usage);
// Stream chunks: `text` is the new piece; `finish` "" while running. The first chat chunk carries the role.
[[nodiscard]] Json completion_chunk(const std::string& id, int64_t created, const std::string& model,
                                    const std::string& text, const std::string& finish);
[[nodiscard]] Json chat_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                              const std::string& finish, bool first);
// The final usage-only chunk of stream_options.include_usage.
[[nodiscard]] Json usage_chunk(Endpoint endpoint, const std::string& id, int64_t created, const std::string& model,
                               const Usage& usage);

// JSON text with invalid UTF-8 replaced (a model may emit any bytes), never throwing.
[[nodiscard]] std::string dump(const Json& json);

}  // namespace ll::http
