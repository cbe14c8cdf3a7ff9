// The resume loop, once for every client (llctl generate, the HTTP server): a generation that survives losing its
// head stage. When the stream reports kLost, ask the cluster where the head is now (HeadLocator), wait until it has
// re-planned (another head, or another plan version), and open the stream there again with resume_tokens = every
// token received so far; per-position seeded sampling makes the rest exactly what the lost head would have produced.
// While the new head loads (kNotReady), does not answer yet (kTimeout) or is gone too (kLost), ask again; bounded by
// resume_timeout. Decisions are made on error codes only. Time and waiting are injected so tests run without sleeps.
// Thread-safety: a ResumingStream belongs to one thread; the stop flag may be set from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "client/client_error.h"
#include "client/control_client.h"
#include "client/head_stream.h"
#include "common/clock.h"

namespace ll::client {

// Where the head stage is now.
class HeadLocator {
 public:
  virtual ~HeadLocator() = default;
  [[nodiscard]] virtual ClientResult<HeadRef> locate() = 0;
  // The head was lost: the next locate() is a search for its successor.
  virtual void head_lost() {}
};

// Asks the cluster over the control protocol. After a loss it asks the next endpoint first (the device it talked to
// may be the one that died) with a shorter timeout per call.
class ClusterHeadLocator final : public HeadLocator {
 public:
  explicit ClusterHeadLocator(ControlClient control,
                              std::chrono::milliseconds timeout_after_loss = std::chrono::milliseconds(1000))
      : control_(std::move(control)), timeout_after_loss_(timeout_after_loss) {}
  [[nodiscard]] ClientResult<HeadRef> locate() override { return control_.current_head(); }
  void head_lost() override;

 private:
  ControlClient control_;
  std::chrono::milliseconds timeout_after_loss_;
};

struct ResumeOptions {
  std::chrono::milliseconds open_timeout{15000};        // the head's accept or refusal (it may queue behind work)
  std::chrono::milliseconds stall_timeout{10000};       // silence of the head (keep-alives count) before it is lost
  std::chrono::milliseconds resume_timeout{30000};      // how long to look for a new head; 0: never resume
  std::chrono::milliseconds retry_interval{200};        // between two questions to the cluster
  const std::atomic<bool>* stop = nullptr;              // once true: the session is cancelled and never resumed
  const Clock* clock = nullptr;                         // nullptr: the steady clock
  std::function<void(std::chrono::milliseconds)> wait;  // empty: sleep
};

// What a caller may want to tell its user (llctl prints it, the HTTP server logs it).
struct ResumeEvents {
  std::function<void(const HeadRef& lost_head, const ClientError& why, size_t tokens_so_far)> on_lost;
  std::function<void(const HeadRef& head, Duration after, size_t tokens_kept)> on_resumed;
};

class ResumingStream {
 public:
  ResumingStream(HeadLocator& locator, HeadConnector& connector, proto::GenerateMsg request, ResumeOptions options,
                 ResumeEvents events = {});

  // Opens the stream on `head` (as located); a head lost already here is resumed like one lost mid-stream. The
  // head's refusal (bad_request, busy, not_ready, ...) is returned as it is.
  [[nodiscard]] ClientResult<proto::StartedMsg> open(const HeadRef& head);
  // The next piece (never a keep-alive), the end, or the final error. Call after a successful open().
  [[nodiscard]] HeadEvent next();
  void cancel();
  [[nodiscard]] bool cancelled() const { return session_ && session_->cancelled(); }
  [[nodiscard]] const HeadRef& head() const { return head_; }
  // The request as it would be resumed now: resume_tokens holds every token received.
  [[nodiscard]] const proto::GenerateMsg& request() const { return request_; }

 private:
  [[nodiscard]] bool stopped() const { return options_.stop && options_.stop->load(); }
  [[nodiscard]] bool resumable(const ClientError& error) const;
  [[nodiscard]] TimePoint now() const;
  // Finds the successor of the lost head and opens the stream there; the final error when none comes in time.
  [[nodiscard]] std::optional<ClientError> resume(const ClientError& lost);

  HeadLocator& locator_;
  HeadConnector& connector_;
  proto::GenerateMsg request_;
  ResumeOptions options_;
  ResumeEvents events_;
  HeadRef head_;
  std::unique_ptr<HeadSession> session_;
  SteadyClock steady_;
};

}  // namespace ll::client
