// HostilePeer: a member of a SimCluster that holds a valid identity (as a device key would give it) and sends
// well-formed but adversarial control messages from a seeded RNG: random terms (stale, current, just ahead, far
// ahead, at and just below proto::kMaxTerm), heartbeats claiming leadership or naming others as leader, real and
// pre-vote requests, unsolicited vote replies, hellos that introduce invented members, pings and byes. It learns the
// cluster's terms only from what it receives, like a real member. Single-threaded: act() between SimCluster steps.
#pragma once

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "net/inproc_transport.h"
#include "proto/limits.h"
#include "proto/messages.h"

namespace ll::test {

class HostilePeer {
 public:
  // `identities`: the names it speaks as (its own first, then invented ones; each counts as a member everywhere).
  HostilePeer(net::InprocHub& hub, uint64_t seed, std::vector<std::string> targets, std::vector<std::string> identities,
              std::vector<std::string> honest_names)
      : transport_(hub, "inproc://" + identities.at(0)),
        rng_(seed),
        targets_(std::move(targets)),
        identities_(std::move(identities)),
        honest_(std::move(honest_names)) {}

  // Drains what reached it (learning the highest term), then sends `messages` hostile messages.
  void act(int messages) {
    while (auto in = transport_.receive(Duration(0))) {
      auto decoded = proto::decode_message(in->frames);
      if (auto* env = std::get_if<proto::Envelope>(&decoded)) seen_term_ = std::max(seen_term_, env->term);
    }
    for (int i = 0; i < messages; ++i) send_one();
  }

  uint64_t sent() const { return sent_; }

 private:
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[rng_() % v.size()];
  }

  uint64_t pick_term() {
    const uint64_t t = seen_term_;
    switch (rng_() % 9) {
      case 0:
        return proto::kMaxTerm;
      case 1:
        return proto::kMaxTerm - rng_() % 3;
      case 2:
        return rng_() % (proto::kMaxTerm + 1);
      case 3:
        return t > 0 ? t - 1 - rng_() % std::min<uint64_t>(t, 3) : 0;  // stale
      case 4:
        return 0;
      case 5:
        return t + (uint64_t{1} << 20) + rng_() % 1000;  // just past one rise budget
      case 6:
        return t + rng_() % (uint64_t{1} << 21);
      default:
        return t + rng_() % 3;  // current or just ahead: what honest members send
    }
  }

  proto::DeviceProfile profile(const std::string& name) const {
    proto::DeviceProfile p;
    p.name = name;
    p.endpoint = "inproc://" + name;
    p.version = "hostile";
    return p;
  }

  std::vector<proto::MemberRef> members() {
    std::vector<proto::MemberRef> out;
    for (const auto& id : identities_) out.push_back({id, "inproc://" + id});
    return out;
  }

  void send_one() {
    const std::string& from = pick(identities_);
    proto::Envelope e;
    e.term = pick_term();
    e.from = from;
    e.endpoint = "inproc://" + from;
    e.cluster = "home";
    switch (rng_() % 8) {
      case 0:
      case 1: {  // "I am the leader" (or: someone else is)
        e.type = proto::MessageType::kHeartbeat;
        const bool lead = rng_() % 4 != 0;
        e.body = proto::HeartbeatBody{
            lead ? "leader" : "follower",
            lead ? from : pick(honest_),
            profile(from),
            members(),
            {}}.to_json();
        break;
      }
      case 2:
      case 3:
        e.type = proto::MessageType::kVoteRequest;
        e.body = proto::VoteRequestBody{rng_() % 2 == 0}.to_json();
        break;
      case 4: {  // an unsolicited vote for an honest member, for any term
        e.type = proto::MessageType::kVoteReply;
        e.body = proto::VoteReplyBody{true, pick(honest_), rng_() % 2 == 0, pick_term()}.to_json();
        break;
      }
      case 5:
        e.type = rng_() % 2 ? proto::MessageType::kHello : proto::MessageType::kWelcome;
        e.body = proto::HelloBody{profile(from), members(), rng_() % 2 ? from : pick(honest_)}.to_json();
        break;
      case 6:
        e.type = proto::MessageType::kPing;
        e.body = proto::PingBody{rng_(), rng_(), 0}.to_json(false);
        break;
      default:  // an invented member leaves (and comes back with its next message)
        e.type = proto::MessageType::kBye;
        break;
    }
    auto frames = proto::encode_message(e);
    if (!frames.ok()) return;
    (void)transport_.send(pick(targets_), std::move(frames.value()));
    ++sent_;
  }

  net::InprocTransport transport_;
  std::mt19937_64 rng_;
  std::vector<std::string> targets_;
  std::vector<std::string> identities_;
  std::vector<std::string> honest_;
  uint64_t seen_term_ = 0;
  uint64_t sent_ = 0;
};

}  // namespace ll::test
