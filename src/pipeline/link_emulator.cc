#include "pipeline/link_emulator.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "common/log.h"
#include "net/curve.h"
#include "proto/limits.h"

namespace ll::pipeline {
namespace {

// Splits "12.5Mbit" into 12.5 and "Mbit"; nullopt unless a finite non-negative number leads.
Result<std::pair<double, std::string>> number_and_unit(std::string_view text, const char* what) {
  const std::string s(text);
  const char* begin = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v) || v < 0) return make_error(std::string("bad ") + what + " '" + s + "'");
  std::string unit(end);
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.erase(0, 1);
  return std::make_pair(v, unit);
}

Result<double> parse_rate(std::string_view text) {
  LL_ASSIGN_OR_RETURN(auto vu, number_and_unit(text, "bandwidth"));
  static const std::unordered_map<std::string, double> kUnits = {
      {"", 1},          {"B/s", 1},          {"bit", 0.125},        {"kbit", 125}, {"Kbit", 125},
      {"Mbit", 125e3},  {"Gbit", 125e6},     {"KB/s", 1e3},         {"MB/s", 1e6}, {"GB/s", 1e9},
      {"KiB/s", 1024.}, {"MiB/s", 1048576.}, {"GiB/s", 1073741824.}};
  auto it = kUnits.find(vu.second);
  if (it == kUnits.end())
    return make_error("bandwidth unit '" + vu.second +
                      "' (want bit, kbit, Mbit, Gbit or B/s, KB/s, MB/s, GB/s, KiB/s, MiB/s, GiB/s)");
  if (vu.first > 0 && vu.second.empty()) return make_error("bandwidth '" + std::string(text) + "' needs a unit");
  return vu.first * it->second;
}

Result<double> parse_latency(std::string_view text) {
  LL_ASSIGN_OR_RETURN(auto vu, number_and_unit(text, "latency"));
  static const std::unordered_map<std::string, double> kUnits = {{"", 1}, {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}};
  auto it = kUnits.find(vu.second);
  if (it == kUnits.end()) return make_error("latency unit '" + vu.second + "' (want s, ms or us)");
  if (vu.first > 0 && vu.second.empty()) return make_error("latency '" + std::string(text) + "' needs a unit");
  if (vu.first * it->second > 10) return make_error("latency above 10 s");
  return vu.first * it->second;
}

}  // namespace

Result<LinkShape> parse_link_shape(std::string_view text) {
  LinkShape shape;
  if (text.empty()) return shape;
  const size_t comma = text.find(',');
  if (comma == std::string_view::npos) {
    return make_error("link '" + std::string(text) + "': want BANDWIDTH,LATENCY (e.g. 20Mbit,5ms)");
  }
  LL_ASSIGN_OR_RETURN(shape.bandwidth_bytes_per_s, parse_rate(text.substr(0, comma)));
  LL_ASSIGN_OR_RETURN(shape.latency_s, parse_latency(text.substr(comma + 1)));
  if (shape.bandwidth_bytes_per_s > 0 && shape.bandwidth_bytes_per_s < 1000) {
    return make_error("bandwidth below 1000 B/s (8 kbit)");
  }
  return shape;
}

TimePoint LinkQueue::admit(size_t bytes, TimePoint now) {
  const TimePoint start = std::max(now, free_at_);
  Duration serialize{0};
  if (shape_.bandwidth_bytes_per_s > 0) {
    serialize = std::chrono::duration_cast<Duration>(
        std::chrono::duration<double>(static_cast<double>(bytes) / shape_.bandwidth_bytes_per_s));
  }
  free_at_ = start + serialize;
  return free_at_ + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(shape_.latency_s));
}

LinkEmulator::LinkEmulator(zmq::context_t& context, LinkShape shape, std::string name)
    : context_(context), name_(std::move(name)), queue_(shape) {
  LL_INFO("emulating an uplink of " << shape.bandwidth_bytes_per_s / 1e6 << " MB/s (0 = unlimited), "
                                    << shape.latency_s * 1e3 << " ms one way, on the data plane");
  thread_ = std::thread([this] { run(); });
}

LinkEmulator::~LinkEmulator() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t LinkEmulator::send(const std::string& endpoint, std::vector<std::string> frames) {
  size_t bytes = 0;
  for (const auto& f : frames) bytes += f.size();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (in_flight_.size() >= kMaxInFlight) {
      LL_WARN(name_ << ": emulated uplink full (" << kMaxInFlight << " messages waiting): dropped one to " << endpoint);
      return 0;
    }
    const TimePoint due = queue_.admit(bytes, std::chrono::steady_clock::now());
    in_flight_.push_back(InFlight{due, endpoint, std::move(frames)});
  }
  wake_.notify_all();
  return bytes;
}

void LinkEmulator::run() {
  std::unordered_map<std::string, zmq::socket_t> peers;
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (in_flight_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const TimePoint due = in_flight_.front().due;
    if (std::chrono::steady_clock::now() < due) {
      wake_.wait_until(lock, due);
      continue;
    }
    InFlight message = std::move(in_flight_.front());
    in_flight_.pop_front();
    lock.unlock();
    try {
      auto it = peers.find(message.endpoint);
      if (it == peers.end()) {
        zmq::socket_t socket(context_, zmq::socket_type::dealer);
        net::secure_client(socket);  // as the stage's own peer sockets
        socket.set(zmq::sockopt::linger, 0);
        socket.set(zmq::sockopt::maxmsgsize, proto::kMaxDataSocketFrameBytes);
        socket.set(zmq::sockopt::sndhwm, proto::kDataHighWaterMark);
        socket.connect(message.endpoint);
        it = peers.emplace(message.endpoint, std::move(socket)).first;
      }
      for (size_t i = 0; i < message.frames.size(); ++i) {
        auto flags = i + 1 < message.frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
        it->second.send(zmq::buffer(message.frames[i]), flags | zmq::send_flags::dontwait);
      }
    } catch (const zmq::error_t& e) {
      LL_WARN(name_ << ": emulated link cannot send to " << message.endpoint << ": " << e.what());
    }
    lock.lock();
  }
}

EgressEmulatingTransport::EgressEmulatingTransport(std::unique_ptr<net::Transport> inner, LinkShape shape,
                                                   std::string name)
    : inner_(std::move(inner)), link_(context_, shape, std::move(name)) {}

Status EgressEmulatingTransport::send(const std::string& peer_endpoint, net::Frames frames) {
  if (link_.send(peer_endpoint, std::move(frames)) == 0) return make_error("the emulated uplink is full");
  return Status::Ok();
}

}  // namespace ll::pipeline
