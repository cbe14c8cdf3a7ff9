#include "http/errors.h"

namespace ll::http {

ApiError api_error(int status, std::string type, std::string message, std::string code) {
  ApiError e;
  e.status = status;
  e.type = std::move(type);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

ApiError head_error(const client::ClientError& error, Endpoint endpoint) {
  using client::ErrorCode;
  const std::string code = client::error_code_name(error.code);
  switch (error.code) {
    case ErrorCode::kBadRequest: {
      ApiError e = bad_request(error.message, endpoint == Endpoint::kChat ? "messages" : "prompt");
      // OpenAI's code for a prompt the context cannot hold; the head says so only in its message (its data error
      // has no code of its own for it).
      if (error.message.find("context") != std::string::npos) e.code = "context_length_exceeded";
      return e;
    }
    case ErrorCode::kBusy: {
      // The head is at its admitted concurrency: a generation ends within seconds, so ask for a retry soon
      // (OpenAI's clients honour Retry-After on a 429).
      ApiError e = api_error(429, "server_error", error.message, code);
      e.retry_after_s = kBusyRetryAfterSeconds;
      return e;
    }
    case ErrorCode::kNotReady:
    case ErrorCode::kUnavailable:
    case ErrorCode::kLost:
    case ErrorCode::kNoModel:
      return api_error(503, "server_error", error.message, code);
    case ErrorCode::kRefused:
      return api_error(502, "server_error", error.message, code);
    case ErrorCode::kTimeout:
    case ErrorCode::kUnreachable:
      return api_error(504, "server_error", error.message, code);
    default:
      return api_error(500, "server_error", error.message, code);
  }
}

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status;
  if (error.retry_after_s > 0) res.set_header("Retry-After", std::to_string(error.retry_after_s));
  res.set_content(dump(error_json(error)), "application/json");
}

}  // namespace ll::http
