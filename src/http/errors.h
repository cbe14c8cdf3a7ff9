// How failures reach an HTTP client: the head stage's refusals and failures (client::ClientError) as an HTTP status
// and OpenAI error object, and an ApiError written into a cpp-httplib response. Thread-safety: stateless functions.
#pragma once

#include <httplib.h>

#include <string>

#include "client/client_error.h"
#include "http/api.h"

namespace ll::http {

inline constexpr int kBusyRetryAfterSeconds = 1;

[[nodiscard]] ApiError api_error(int status, std::string type, std::string message, std::string code);
// The head stage's refusal or failure, as an HTTP status and OpenAI error (docs/http.md, "Errors").
[[nodiscard]] ApiError head_error(const client::ClientError& error, Endpoint endpoint);
// Status, JSON body (and the headers the error calls for) into `res`.
void send_error(httplib::Response& res, const ApiError& error);

}  // namespace ll::http
