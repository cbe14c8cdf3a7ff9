// ResumingStream: the stream of one generation across head losses. Thread-safety: see the header.
#include "client/resume.h"

#include <thread>

namespace ll::client {

void ClusterHeadLocator::head_lost() {
  control_.prefer_next();
  if (control_.timeout() > timeout_after_loss_) control_ = control_.with_timeout(timeout_after_loss_);
}

ResumingStream::ResumingStream(HeadLocator& locator, HeadConnector& connector, proto::GenerateMsg request,
                               ResumeOptions options, ResumeEvents events)
    : locator_(locator),
      connector_(connector),
      request_(std::move(request)),
      options_(std::move(options)),
      events_(std::move(events)) {}

TimePoint ResumingStream::now() const { return options_.clock ? options_.clock->now() : steady_.now(); }

bool ResumingStream::resumable(const ClientError& error) const {
  return error.code == ErrorCode::kLost && options_.resume_timeout.count() > 0 && !cancelled() && !stopped();
}

ClientResult<proto::StartedMsg> ResumingStream::open(const HeadRef& head) {
  head_ = head;
  auto opened = connector_.open(head.endpoint, request_, options_.open_timeout);
  if (opened) {
    session_ = std::move(opened).value();
    return session_->started();
  }
  if (!resumable(opened.error())) return opened.take_error();
  if (auto failed = resume(opened.error())) return *failed;
  return session_->started();
}

HeadEvent ResumingStream::next() {
  while (true) {
    if (stopped() && !session_->cancelled()) session_->cancel();
    HeadEvent event = session_->next(options_.stall_timeout);
    if (auto* tokens = std::get_if<proto::TokensMsg>(&event)) {
      if (tokens->tokens.empty() && tokens->text.empty()) continue;  // the head's keep-alive
      request_.resume_tokens.insert(request_.resume_tokens.end(), tokens->tokens.begin(), tokens->tokens.end());
      return event;
    }
    // A re-plan that moved the head elsewhere ends the session here; the generation goes on at the new head.
    if (auto* done = std::get_if<proto::DoneMsg>(&event); done && done->stop_reason == "head_moved") {
      const ClientError moved{ErrorCode::kLost, "the head moved to another device (re-planned)"};
      if (!resumable(moved)) return ClientError{ErrorCode::kUnavailable, moved.message};
      if (auto failed = resume(moved)) return *failed;
      continue;
    }
    auto* error = std::get_if<ClientError>(&event);
    if (!error || !resumable(*error)) return event;
    if (auto failed = resume(*error)) return *failed;
  }
}

void ResumingStream::cancel() {
  if (session_) session_->cancel();
}

std::optional<ClientError> ResumingStream::resume(const ClientError& lost) {
  if (events_.on_lost) events_.on_lost(head_, lost, request_.resume_tokens.size());
  locator_.head_lost();
  const HeadRef lost_head = head_;
  const auto lost_at = now();
  ClientError last = lost;
  while (!stopped()) {
    if (now() - lost_at >= options_.resume_timeout) {
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.resume_timeout).count();
      std::string message = lost.message + "; no new head within " + std::to_string(seconds) + " s";
      if (last.message != lost.message) message += " (last: " + last.message + ")";
      return ClientError{ErrorCode::kUnavailable, message};
    }
    if (options_.wait)
      options_.wait(options_.retry_interval);
    else
      std::this_thread::sleep_for(options_.retry_interval);
    auto found = locator_.locate();
    if (!found) {
      last = found.take_error();
      continue;
    }
    if (!found->error.empty()) {
      return ClientError{ErrorCode::kUnavailable, "the cluster cannot continue: " + found->error};
    }
    if (found->endpoint.empty()) {
      last = ClientError{ErrorCode::kNoModel, "no plan on the cluster after losing " + lost_head.endpoint};
      continue;
    }
    if (found->endpoint == lost_head.endpoint && found->version == lost_head.version) {
      last = ClientError{ErrorCode::kUnavailable, "the cluster did not re-plan after losing " + lost_head.endpoint};
      continue;
    }
    auto opened = connector_.open(found->endpoint, request_, options_.open_timeout);
    if (!opened) {
      const ErrorCode code = opened.error().code;
      last = opened.take_error();
      if (code == ErrorCode::kLost || code == ErrorCode::kNotReady || code == ErrorCode::kTimeout) continue;
      return last;  // the new head refuses the request itself: asking again will not help
    }
    session_ = std::move(opened).value();
    head_ = *found;
    if (events_.on_resumed) {
      const size_t kept = request_.resume_tokens.size();
      events_.on_resumed(head_, now() - lost_at, kept);
    }
    return std::nullopt;
  }
  return lost;
}

}  // namespace ll::client
