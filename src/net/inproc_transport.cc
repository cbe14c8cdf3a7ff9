#include "net/inproc_transport.h"

#include <algorithm>

namespace ll::net {

InprocHub::InprocHub(const Clock& clock, uint64_t seed) : clock_(clock), rng_(seed) {}

void InprocHub::set_drop_rate(double probability) {
  std::lock_guard<std::mutex> lock(mu_);
  drop_rate_ = probability;
}

void InprocHub::set_delay(Duration min_delay, Duration max_delay) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_min_ = min_delay;
  delay_max_ = std::max(min_delay, max_delay);
}

void InprocHub::partition(const std::string& a, const std::string& b) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.insert({a, b});
  cuts_.insert({b, a});
}

void InprocHub::isolate(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [other, box] : boxes_) {
    if (other == endpoint) continue;
    cuts_.insert({endpoint, other});
    cuts_.insert({other, endpoint});
  }
}

void InprocHub::split(const std::vector<std::vector<std::string>>& groups) {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, size_t> group_of;
  for (size_t g = 0; g < groups.size(); ++g) {
    for (const auto& ep : groups[g]) group_of[ep] = g;
  }
  for (const auto& [a, box_a] : boxes_) {
    for (const auto& [b, box_b] : boxes_) {
      if (a == b) continue;
      auto ga = group_of.find(a);
      auto gb = group_of.find(b);
      if (ga == group_of.end() || gb == group_of.end() || ga->second != gb->second) cuts_.insert({a, b});
    }
  }
}

void InprocHub::heal() {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_.clear();
}

void InprocHub::set_down(const std::string& endpoint, bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down) {
    down_.insert(endpoint);
    auto it = boxes_.find(endpoint);
    if (it != boxes_.end()) it->second.queue.clear();  // a crashed process loses what it had not read
  } else {
    down_.erase(endpoint);
  }
}

void InprocHub::kill_process(const std::string& endpoint) {
  set_down(endpoint, true);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [other, box] : boxes_) {
    if (other != endpoint) unreachable_[other].push_back(endpoint);
  }
}

std::vector<std::string> InprocHub::take_unreachable(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  auto it = unreachable_.find(endpoint);
  if (it != unreachable_.end()) out.swap(it->second);
  return out;
}

void InprocHub::hold(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  holds_.insert({from, to});
}

void InprocHub::release(const std::string& from, const std::string& to) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    holds_.erase({from, to});
    auto it = boxes_.find(to);
    if (it != boxes_.end()) {
      for (auto& m : it->second.queue) {
        if (m.from == from) m.held = false;
      }
    }
  }
  cv_.notify_all();
}

size_t InprocHub::deliverable(const std::string& endpoint) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(endpoint);
  if (it == boxes_.end()) return 0;
  const TimePoint now = clock_.now();
  size_t n = 0;
  for (const auto& m : it->second.queue) n += m.deliver_at <= now && !m.held ? 1 : 0;
  return n;
}

bool InprocHub::blocked(const std::string& from, const std::string& to) const {
  std::lock_guard<std::mutex> lock(mu_);
  return blocked_locked(from, to);
}

bool InprocHub::blocked_locked(const std::string& from, const std::string& to) const {
  return cuts_.count({from, to}) > 0 || down_.count(from) > 0 || down_.count(to) > 0;
}

FaultStats InprocHub::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void InprocHub::attach(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  boxes_[endpoint];
}

void InprocHub::detach(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(mu_);
  boxes_.erase(endpoint);
}

Status InprocHub::post(const std::string& from, const std::string& to, Incoming message) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = boxes_.find(to);
  if (it == boxes_.end()) {
    ++stats_.dropped_unreachable;
    return make_error("no such endpoint: " + to);
  }
  if (blocked_locked(from, to)) {
    ++stats_.dropped_partition;
    return Status::Ok();  // a partition looks like silence to the sender
  }
  if (drop_rate_ > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < drop_rate_) {
    ++stats_.dropped_random;
    return Status::Ok();
  }
  Duration delay = delay_min_;
  if (delay_max_ > delay_min_) {
    delay = Duration(std::uniform_int_distribution<int64_t>(delay_min_.count(), delay_max_.count())(rng_));
  }
  const bool held = holds_.count({from, to}) > 0;
  it->second.queue.push_back(Queued{clock_.now() + delay, seq_++, std::move(message), from, held});
  ++stats_.delivered;
  cv_.notify_all();
  return Status::Ok();
}

std::optional<Incoming> InprocHub::take(const std::string& endpoint, Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto it = boxes_.find(endpoint);
    if (it == boxes_.end()) return std::nullopt;
    auto& q = it->second.queue;
    const TimePoint now = clock_.now();
    auto best = q.end();
    for (auto m = q.begin(); m != q.end(); ++m) {
      if (m->deliver_at > now || m->held) continue;
      if (best == q.end() || m->deliver_at < best->deliver_at ||
          (m->deliver_at == best->deliver_at && m->seq < best->seq)) {
        best = m;
      }
    }
    if (best != q.end()) {
      Incoming out = std::move(best->message);
      q.erase(best);
      return out;
    }
    if (timeout.count() <= 0 || cv_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
  }
}

InprocTransport::InprocTransport(InprocHub& hub, std::string endpoint, Sender sender)
    : hub_(hub), endpoint_(std::move(endpoint)), sender_(std::move(sender)) {
  hub_.attach(endpoint_);
}

InprocTransport::~InprocTransport() { hub_.detach(endpoint_); }

Status InprocTransport::send(const std::string& peer_endpoint, Frames frames) {
  Incoming in;
  in.frames = std::move(frames);
  in.reply_route = endpoint_;
  in.sender = sender_;
  return hub_.post(endpoint_, peer_endpoint, std::move(in));
}

Status InprocTransport::reply(const Incoming& to, Frames frames) {
  const std::string& target = to.via_peer.empty() ? to.reply_route : to.via_peer;
  if (target.empty()) return make_error("message has no reply route");
  Incoming in;
  in.frames = std::move(frames);
  in.via_peer = endpoint_;
  return hub_.post(endpoint_, target, std::move(in));
}

std::optional<Incoming> InprocTransport::receive(Duration timeout) { return hub_.take(endpoint_, timeout); }

}  // namespace ll::net
