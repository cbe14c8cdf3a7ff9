// One generation streamed from the head stage, for an HTTP request. Unlike pipeline::run_generation it is driven
// step by step — open() waits for the head to accept or refuse (so a refusal still becomes an HTTP status before any
// byte of a stream is sent), then next() yields the pieces — and it keeps the head's error code (bad_request, busy,
// not_ready, ...) so the HTTP layer can choose the status. Thread-safety: one HeadStream per request thread; it owns
// its ZeroMQ context and socket.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "proto/data_messages.h"

namespace ll::http {

// A failure: the head's DataErrorMsg, or from this side "lost" (the connection dropped, or none within 3 s: the head
// is gone and a new plan may have another), "timeout", "unreachable", "refused" (CURVE) or "malformed".
using HeadError = proto::DataErrorMsg;
// What next() yields.
using HeadEvent = std::variant<proto::TokensMsg, proto::DoneMsg, HeadError>;

class HeadStream {
 public:
  ~HeadStream();
  HeadStream(const HeadStream&) = delete;
  HeadStream& operator=(const HeadStream&) = delete;

  // Sends `request` to the head at `endpoint` and waits for its answer: a stream, or the head's refusal.
  [[nodiscard]] static std::variant<std::unique_ptr<HeadStream>, HeadError> open(const std::string& endpoint,
                                                                                 const proto::GenerateMsg& request,
                                                                                 std::chrono::milliseconds timeout);

  const proto::StartedMsg& started() const { return started_; }
  // The next piece, the end, or an error; `timeout` without any message from the head is an error.
  [[nodiscard]] HeadEvent next(std::chrono::milliseconds timeout);
  // Asks the head to end the session (a stop sequence was seen, the HTTP client left); next() then yields the done.
  void cancel();
  [[nodiscard]] bool cancelled() const { return cancelled_; }

 private:
  struct Socket;
  explicit HeadStream(std::unique_ptr<Socket> socket);
  std::unique_ptr<Socket> socket_;
  proto::StartedMsg started_;
  bool cancelled_ = false;
};

}  // namespace ll::http
