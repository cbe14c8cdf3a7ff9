// The client side of a generation: connects to the head stage's data endpoint, sends one request and receives the
// stream (started, tokens..., done). Used by `llctl generate`, the benchmarks and the tests.
// Thread-safety: a call runs on the calling thread with its own socket; `cancel` may be set from another thread
// (a signal handler sets it for Ctrl-C).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include "lingualinked/result.h"
#include "proto/data_messages.h"

namespace ll::pipeline {

struct ClientOptions {
  std::chrono::milliseconds answer_timeout{10000};  // longest wait for any message from the head
  std::chrono::milliseconds connect_timeout{3000};  // longest wait for the connection (and CURVE handshake)
  const std::atomic<bool>* cancel = nullptr;        // when it becomes true, the generation is cancelled
};

// Errors that mean the head is gone (its connection dropped, it never answered, or it has no model yet): a caller
// may ask the cluster for the new head and resume (GenerateMsg::resume_tokens). Other errors are final.
inline constexpr const char* kHeadLostPrefix = "lost the head: ";
[[nodiscard]] bool head_lost(const std::string& error);
// The head is alive but not (yet) serving the model: during a re-plan, ask again shortly.
inline constexpr const char* kHeadNotReadyPrefix = "head not ready: ";
[[nodiscard]] bool head_not_ready(const std::string& error);

// Runs one generation. `on_tokens` sees every streamed piece; returning false cancels the generation.
[[nodiscard]] Result<proto::DoneMsg> run_generation(const std::string& head_endpoint, const proto::GenerateMsg& request,
                                                    const std::function<bool(const proto::TokensMsg&)>& on_tokens,
                                                    const ClientOptions& options = ClientOptions{});

}  // namespace ll::pipeline
