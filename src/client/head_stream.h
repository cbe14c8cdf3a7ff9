// The client side of one generation on the head stage's data endpoint (docs/pipeline.md): send a `generate`, then
// read `started`, `tokens`..., `done` step by step. open() waits for the head to accept or refuse (so an HTTP server
// can still answer with a status), next() yields the pieces — the head's keep-alives (empty tokens) included — and
// every failure is a ClientError: the head's own code (bad_request, busy, not_ready, ...), or from this side kLost
// (the connection dropped, none was made, or the head fell silent: ask the cluster where the head is now),
// kTimeout (no answer to the request), kRefused (CURVE) or kMalformed. HeadSession is the seam the resume loop
// (resume.h) and its tests use; run_generation is the callback convenience for tests.
// Thread-safety: a HeadStream belongs to one thread and owns its ZeroMQ context and socket; the cancel flag may be
// set from any thread (a signal handler sets it for Ctrl-C).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <variant>

#include "client/client_error.h"
#include "proto/data_messages.h"

namespace ll::client {

// What next() yields.
using HeadEvent = std::variant<proto::TokensMsg, proto::DoneMsg, ClientError>;

// One generation's stream from a head stage.
class HeadSession {
 public:
  virtual ~HeadSession() = default;
  [[nodiscard]] virtual const proto::StartedMsg& started() const = 0;
  // The next piece, the end, or an error; `timeout` without any message from the head is kLost.
  [[nodiscard]] virtual HeadEvent next(std::chrono::milliseconds timeout) = 0;
  // Asks the head to end the session (a stop sequence was seen, the client left); next() then yields the done.
  virtual void cancel() = 0;
  [[nodiscard]] virtual bool cancelled() const = 0;
};

struct HeadStreamOptions {
  std::chrono::milliseconds connect_timeout{3000};  // the connection and its CURVE handshake; then kLost
  const std::atomic<bool>* cancel = nullptr;        // once true, the session is cancelled (checked every 100 ms)
};

class HeadStream final : public HeadSession {
 public:
  ~HeadStream() override;
  HeadStream(const HeadStream&) = delete;
  HeadStream& operator=(const HeadStream&) = delete;

  // Sends `request` to the head at `endpoint` and waits up to `timeout` for its answer: a stream, or its refusal.
  [[nodiscard]] static ClientResult<std::unique_ptr<HeadStream>> open(const std::string& endpoint,
                                                                      const proto::GenerateMsg& request,
                                                                      std::chrono::milliseconds timeout,
                                                                      const HeadStreamOptions& options = {});

  [[nodiscard]] const proto::StartedMsg& started() const override { return started_; }
  [[nodiscard]] HeadEvent next(std::chrono::milliseconds timeout) override;
  void cancel() override;
  [[nodiscard]] bool cancelled() const override { return cancelled_; }

 private:
  struct Socket;
  explicit HeadStream(std::unique_ptr<Socket> socket);
  std::unique_ptr<Socket> socket_;
  proto::StartedMsg started_;
  bool cancelled_ = false;
};

// Opens head sessions: HeadStream on the network, a fake in tests.
class HeadConnector {
 public:
  virtual ~HeadConnector() = default;
  [[nodiscard]] virtual ClientResult<std::unique_ptr<HeadSession>> open(const std::string& endpoint,
                                                                        const proto::GenerateMsg& request,
                                                                        std::chrono::milliseconds timeout) = 0;
};

class ZmqHeadConnector final : public HeadConnector {
 public:
  explicit ZmqHeadConnector(HeadStreamOptions options = {}) : options_(options) {}
  [[nodiscard]] ClientResult<std::unique_ptr<HeadSession>> open(const std::string& endpoint,
                                                                const proto::GenerateMsg& request,
                                                                std::chrono::milliseconds timeout) override;

 private:
  HeadStreamOptions options_;
};

struct GenerationOptions {
  std::chrono::milliseconds answer_timeout{10000};  // longest wait for any message from the head
  HeadStreamOptions stream;
};

// One generation on one head, without resuming: `on_tokens` sees every piece (keep-alives too); returning false
// cancels the generation, which then ends with the head's done.
[[nodiscard]] ClientResult<proto::DoneMsg> run_generation(const std::string& head_endpoint,
                                                          const proto::GenerateMsg& request,
                                                          const std::function<bool(const proto::TokensMsg&)>& on_tokens,
                                                          const GenerationOptions& options = GenerationOptions{});

}  // namespace ll::client
