#include "cluster/node.h"

#include <algorithm>

#include "common/log.h"
#include "proto/limits.h"

namespace ll::cluster {

using proto::Envelope;
using proto::MessageType;

namespace {
uint64_t pick_seed(uint64_t seed) {
  return seed != 0 ? seed : (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
}
}  // namespace

Node::Node(NodeConfig config, net::Transport& transport, const Clock& clock)
    : config_(std::move(config)),
      transport_(transport),
      clock_(clock),
      endpoint_(config_.advertise.empty() ? transport.endpoint() : config_.advertise),
      membership_(config_.name, endpoint_, config_.suspect_after, config_.dead_after),
      election_(config_.name, config_.election, pick_seed(config_.random_seed), PersistedVote{}, clock.now()),
      store_(config_.data_dir),
      rng_(pick_seed(config_.random_seed) + 1),
      hints_(proto::kMaxDiscoveryHints, proto::kDiscoveryHintsPerSecond, 2 * config_.dead_after) {
  links_.set_emulated_egress(config_.egress_mbps, config_.egress_latency_ms);
  dispatcher_.add(MessageType::kGetStatus, MessageType::kStatus,
                  [this](const Envelope&) -> Result<proto::Json> { return status().to_json(); });
  dispatcher_.add(MessageType::kGetDevices, MessageType::kDevices,
                  [this](const Envelope&) -> Result<proto::Json> { return devices().to_json(); });
  dispatcher_.add(
      MessageType::kRefreshProfile, MessageType::kRefreshStarted,
      [this](const Envelope&) -> Result<proto::Json> {
        proto::RefreshStartedBody body;
        body.compute = refresh_hook_ ? refresh_hook_() : false;
        const TimePoint now = clock_.now();
        send_pings(now, false, false);
        send_pings(now, true, false);
        body.links = links_.size();
        return body.to_json();
      },
      net::Role::kAdmin);  // every device re-measures its compute and links: an operator's call
  dispatcher_.add(
      MessageType::kRemoveDevice, MessageType::kDeviceRemoved,
      [this](const Envelope& request) -> Result<proto::Json> {
        LL_ASSIGN_OR_RETURN(std::string name, proto::get_name(request.body, "name"));
        LL_TRY_STATUS(remove_member(name));
        return proto::Json{
            {"name", name}, {"members_known", membership_.known_count()}, {"quorum", membership_.quorum()}};
      },
      net::Role::kAdmin);
}

Status Node::remove_member(const std::string& name) {
  if (name == config_.name) return make_error("a device cannot remove itself; stop it with 'bye' (SIGTERM)");
  const Member* m = membership_.find(name);
  if (m == nullptr) return make_error("no device named '" + name + "' in this cluster");
  if (m->left) return Status::Ok();  // already gone: removing twice is harmless
  if (m->state == PeerState::kAlive || m->state == PeerState::kSuspect) {
    return make_error(name + " is " + peer_state_name(m->state) + " (heard " +
                      std::to_string(static_cast<int64_t>(to_ms(clock_.now() - m->last_heard))) +
                      " ms ago): only a dead device can be removed; stop it first");
  }
  const std::string endpoint = m->endpoint;
  LL_WARN("removed device " << name << " (" << peer_state_name(m->state)
                            << ") at an operator's request: it no longer counts towards the quorum");
  membership_.mark_left(name);
  keys_.erase(name);
  links_.forget(name);
  if (!endpoint.empty()) transport_.disconnect(endpoint);
  if (election_.leader() == name) leader_gone(clock_.now());
  return Status::Ok();
}

Status Node::start() {
  LL_ASSIGN_OR_RETURN(PersistedVote vote, store_.load());
  const TimePoint now = clock_.now();
  election_ = Election(config_.name, config_.election, pick_seed(config_.random_seed), vote, now);
  election_.hold_until(now + config_.election.election_min + config_.discovery_grace);
  if (vote.term > 0)
    LL_INFO("restored term " << vote.term << (vote.voted_for.empty() ? "" : ", voted for ") << vote.voted_for);
  for (const auto& seed : config_.seeds) membership_.add_seed(seed);
  started_ = now;
  bucket_time_ = now;
  next_heartbeat_ = now;
  next_ping_ = now + config_.heartbeat_interval;
  next_probe_ = now + 2 * config_.heartbeat_interval;
  LL_INFO("member " << config_.name << " of cluster " << config_.cluster << " at " << endpoint_ << ", "
                    << membership_.unresolved_seeds().size() << " seeds");
  return Status::Ok();
}

void Node::post_profile(const proto::DeviceProfile& profile) {
  std::lock_guard<std::mutex> lock(post_mu_);
  posted_profile_ = profile;
}

void Node::post_discovered(const std::string& endpoint) {
  std::lock_guard<std::mutex> lock(post_mu_);
  if (posted_endpoints_.size() < proto::kMaxMembers) posted_endpoints_.push_back(endpoint);
}

void Node::apply_posts() {
  std::lock_guard<std::mutex> lock(post_mu_);
  if (posted_profile_) {
    config_.profile = *posted_profile_;
    posted_profile_.reset();
  }
  const TimePoint now = clock_.now();
  for (const auto& ep : posted_endpoints_) {
    bool known = ep == endpoint_;
    for (const auto& [name, m] : membership_.members()) known = known || (m.endpoint == ep && !m.left);
    if (known || membership_.unresolved_seeds().count(ep)) continue;
    // Only a hint: greeted over CURVE, counted nowhere until it answers (cluster/discovery_hints.h).
    if (hints_.offer(ep, now)) {
      LL_INFO("beacon from " << ep << ": greeting it");
      send_to(ep, peer_message(MessageType::kHello, hello_body().to_json()));
    }
  }
  if (hints_.ignored() >= next_ignored_report_) {
    LL_WARN("discovery: " << hints_.ignored() << " beacon hint(s) ignored (at most " << proto::kMaxDiscoveryHints
                          << " pending, " << proto::kDiscoveryHintsPerSecond << " new per second)");
    next_ignored_report_ = hints_.ignored() * 2;
  }
  posted_endpoints_.clear();
  std::vector<std::pair<net::Incoming, Dispatcher::Outcome>> late;
  {
    std::lock_guard<std::mutex> late_lock(late_replies_->mutex);
    late.swap(late_replies_->replies);
  }
  for (auto& [to, outcome] : late) {
    if (auto* err = std::get_if<proto::ProtocolError>(&outcome)) {
      reply_error(to, *err);
      continue;
    }
    Envelope reply = std::get<Envelope>(std::move(outcome));
    reply.term = election_.term();
    reply.from = config_.name;
    reply_to(to, std::move(reply));
  }
}

bool Node::allow_log() {
  const TimePoint now = clock_.now();
  const double per_second = proto::kRefusalsPerSecond;
  bucket_ = std::min(per_second, bucket_ + per_second * to_ms(now - bucket_time_) / 1000.0);
  bucket_time_ = now;
  if (bucket_ < 1) {
    ++suppressed_;
    return false;
  }
  bucket_ -= 1;
  if (suppressed_ > 0) {
    LL_WARN("(" << suppressed_ << " similar messages suppressed)");
    suppressed_ = 0;
  }
  return true;
}

bool Node::persist() {
  auto st = store_.save(election_.persisted());
  if (!st.ok()) LL_ERROR("persisting election state: " << st.error());
  return st.ok();
}

proto::DeviceProfile Node::own_profile() const {
  proto::DeviceProfile p = config_.profile;
  p.name = config_.name;
  p.endpoint = endpoint_;
  return p;
}

proto::HelloBody Node::hello_body() const {
  proto::HelloBody b;
  b.profile = own_profile();
  b.members = membership_.refs();
  b.leader = election_.leader();
  return b;
}

Envelope Node::peer_message(MessageType type, proto::Json body) const {
  Envelope e;
  e.type = type;
  e.term = election_.term();
  e.from = config_.name;
  e.endpoint = endpoint_;
  e.cluster = config_.cluster;
  e.body = std::move(body);
  return e;
}

void Node::send_to(const std::string& endpoint, const Envelope& msg) {
  auto frames = proto::encode_message(msg);
  if (!frames.ok()) {
    LL_ERROR("encoding " << proto::type_name(msg.type) << ": " << frames.error());
    return;
  }
  auto st = transport_.send(endpoint, std::move(frames.value()));
  if (!st.ok()) LL_DEBUG(proto::type_name(msg.type) << " to " << endpoint << " dropped: " << st.error());
}

void Node::reply_to(const net::Incoming& in, Envelope msg) {
  auto frames = proto::encode_message(msg);
  if (!frames.ok()) {
    LL_ERROR("encoding " << proto::type_name(msg.type) << ": " << frames.error());
    return;
  }
  auto st = transport_.reply(in, std::move(frames.value()));
  if (!st.ok()) LL_DEBUG(proto::type_name(msg.type) << " reply dropped: " << st.error());
}

void Node::reply_error(const net::Incoming& in, const proto::ProtocolError& error) {
  const bool may = allow_log();
  // A peer of another version repeats its hello every heartbeat: its refusal is logged once, then at debug level.
  const bool again = error.code == "unsupported_version" && !version_refusals_.insert(error.message).second;
  if (version_refusals_.size() > proto::kMaxMembers) version_refusals_.clear();
  if (may && again) LL_DEBUG("refused message (" << error.code << "): " << error.message);
  if (may && !again) LL_WARN("refused message (" << error.code << "): " << error.message);
  // Answers only arrive in place for messages sent to our listen socket; never answer an answer (no error loops).
  if (may && in.via_peer.empty() && !in.reply_route.empty()) {
    reply_to(in, proto::make_error_message(config_.name, election_.term(), error));
  }
}

void Node::poll_once(Duration max_wait) {
  apply_posts();
  on_timers(clock_.now());
  const TimePoint now = clock_.now();
  Duration wait = std::min(max_wait, std::max(Duration(0), next_heartbeat_ - now));
  auto in = transport_.receive(wait);
  for (int n = 0; in && n < 256; ++n) {
    handle(*in, clock_.now());
    in = transport_.receive(Duration(0));
  }
  if (in) handle(*in, clock_.now());
  for (const std::string& endpoint : transport_.take_unreachable()) {
    const std::string name = membership_.mark_refused(endpoint);
    if (name.empty()) continue;
    LL_WARN("member " << name << ": connection dropped and " << endpoint << " refuses a new one");
    if (election_.leader() == name) leader_gone(clock_.now());  // as if it had said bye: elect now, in rank order
  }
  on_timers(clock_.now());
}

void Node::leader_gone(TimePoint now) {
  size_t rank = 0;  // our place among the remaining members by name: everyone computes the same order
  for (const auto& [name, other] : membership_.members()) {
    if (!other.left && !other.refused && other.state != PeerState::kDead && name != election_.leader() &&
        name < config_.name)
      ++rank;
  }
  election_.leader_gone(now, rank);
}

void Node::on_timers(TimePoint now) {
  for (const auto& c : membership_.update_states(now)) {
    LL_INFO("member " << c.name << ": " << peer_state_name(c.from) << " -> " << peer_state_name(c.to));
  }
  const size_t quorum = membership_.quorum();
  switch (election_.tick(now, quorum)) {
    case TickAction::kNone:
      break;
    case TickAction::kPreVote: {
      const Envelope req = peer_message(MessageType::kVoteRequest, proto::VoteRequestBody{true}.to_json());
      for (const auto& ep : membership_.target_endpoints()) send_to(ep, req);
      break;
    }
    case TickAction::kElection:
      election_started(now);
      break;
  }
  if (election_.check_quorum(membership_.heard_within(now, config_.dead_after), quorum, now)) {
    // Step down seen by everyone on the next heartbeat.
  }
  if (now >= next_heartbeat_) send_heartbeats(now);
  if (now >= next_ping_) {
    next_ping_ = now + config_.ping_interval;
    send_pings(now, false, false);
  }
  if (now >= next_probe_) {
    next_probe_ = now + config_.probe_interval;
    send_pings(now, true, false);
  }
  // A hint nobody answered for: forgotten, and the connection opened to greet it closed (an endpoint a forged
  // beacon named must not hold a socket for ever).
  for (const auto& ep : hints_.expire(now)) {
    LL_DEBUG("beacon hint " << ep << " never answered; forgetting it");
    bool member = false;
    for (const auto& [name, m] : membership_.members()) member = member || m.endpoint == ep;
    if (!member && !membership_.unresolved_seeds().count(ep)) transport_.disconnect(ep);
  }
  links_.expire(now, std::chrono::seconds(10));
}

void Node::election_started(TimePoint now) {
  persist();
  if (election_.role() == Role::kLeader) {
    send_heartbeats(now);
    return;
  }
  const Envelope req = peer_message(MessageType::kVoteRequest, proto::VoteRequestBody{false}.to_json());
  for (const auto& ep : membership_.target_endpoints()) send_to(ep, req);
}

void Node::send_heartbeats(TimePoint now) {
  next_heartbeat_ = now + config_.heartbeat_interval;
  proto::HeartbeatBody hb;
  hb.role = role_name(election_.role());
  hb.leader = election_.leader();
  hb.profile = own_profile();
  hb.members = membership_.refs();
  hb.links = links_.stats();
  const Envelope msg = peer_message(MessageType::kHeartbeat, hb.to_json());
  const Envelope hello = peer_message(MessageType::kHello, hello_body().to_json());
  for (const auto& ep : membership_.target_endpoints()) send_to(ep, msg);
  for (const auto& ep : membership_.unresolved_seeds()) send_to(ep, hello);
  for (const auto& ep : hints_.pending()) send_to(ep, hello);
  // New links are measured at once rather than at the next periodic round.
  send_pings(now, false, true);
  send_pings(now, true, true);
}

void Node::send_pings(TimePoint now, bool probe, bool only_unmeasured) {
  for (const auto& [name, m] : membership_.members()) {
    if (m.left || (m.state != PeerState::kAlive && m.state != PeerState::kSuspect)) continue;
    if (only_unmeasured) {
      if (probe ? (!links_.has_rtt(name) || links_.has_bandwidth(name)) : links_.has_rtt(name)) continue;
    } else if (probe && !links_.has_rtt(name)) {
      continue;  // bandwidth needs the RTT to subtract
    }
    const uint64_t nonce = rng_();
    proto::PingBody body{nonce, static_cast<uint64_t>(now.time_since_epoch().count()), 0};
    Envelope msg = peer_message(probe ? MessageType::kProbe : MessageType::kPing, body.to_json(false));
    if (probe) {
      proto::TensorFrame payload;
      payload.dtype = proto::DType::kU8;
      const size_t bytes = std::min(config_.probe_bytes, proto::kMaxProbeBytes);
      payload.shape = {bytes};
      payload.data.assign(bytes, '\x5a');
      msg.tensors.push_back(std::move(payload));
    }
    links_.issue(name, nonce, probe ? std::min(config_.probe_bytes, proto::kMaxProbeBytes) : 0, now);
    send_to(m.endpoint, msg);
  }
}

void Node::handle(const net::Incoming& in, TimePoint now) {
  if (in.too_many_frames) {
    reply_error(in, {"too_large", "too many frames", ""});
    return;
  }
  if (in.frames.empty()) {
    if (allow_log()) LL_WARN("dropped an empty message");
    return;
  }
  auto decoded = proto::decode_message(in.frames);
  if (auto* err = std::get_if<proto::ProtocolError>(&decoded)) {
    reply_error(in, *err);
    return;
  }
  const Envelope& msg = std::get<Envelope>(decoded);
  const auto& info = proto::type_info(msg.type);
  // What the sender's key may do (docs/security.md, "Roles"): a client's key cannot take part in the cluster, and
  // only an admin's may change it.
  const net::Role needed =
      info.direction == proto::Direction::kClientRequest ? dispatcher_.needed(msg.type) : net::Role::kDevice;
  if (!net::permits(in.sender.roles, needed)) {
    const std::string who = in.sender.name.empty() ? "an unlisted key" : "key " + in.sender.name;
    const std::string why = std::string(info.name) + " needs the role " + net::role_name(needed) + "; " + who +
                            " holds " + (in.sender.roles ? net::roles_text(in.sender.roles) : "none");
    if (allow_log()) LL_WARN("refused: " << why);
    if (info.direction == proto::Direction::kClientRequest) reply_error(in, {"forbidden", why, info.name});
    return;
  }
  if (info.direction == proto::Direction::kClientRequest) {
    if (!in.via_peer.empty()) return;
    if (dispatcher_.deferred(msg.type)) {
      net::Incoming to = in;
      to.frames.clear();
      dispatcher_.dispatch_deferred(msg, [box = late_replies_, to](Dispatcher::Outcome outcome) {
        std::lock_guard<std::mutex> lock(box->mutex);
        box->replies.emplace_back(to, std::move(outcome));
      });
      return;
    }
    auto result = dispatcher_.dispatch(msg);
    if (auto* err = std::get_if<proto::ProtocolError>(&result)) {
      reply_error(in, *err);
      return;
    }
    Envelope reply = std::get<Envelope>(std::move(result));
    reply.term = election_.term();
    reply.from = config_.name;
    reply_to(in, std::move(reply));
    return;
  }
  if (info.direction == proto::Direction::kReply) {
    if (msg.type == MessageType::kError && allow_log()) {
      auto body = proto::ErrorBody::from_json(msg.body);
      LL_WARN("error from " << msg.from << ": " << (body.ok() ? body->code + ": " + body->message : "(malformed)"));
    }
    return;
  }
  handle_peer(msg, in, now);
}

void Node::learn_members(const std::vector<proto::MemberRef>& members) {
  for (const auto& ref : members) {
    const Member* m = membership_.find(ref.name);
    if (m != nullptr && m->left) continue;  // tombstone: only the member itself brings it back
    membership_.learn(ref.name, ref.endpoint);
  }
}

void Node::handle_peer(const Envelope& msg, const net::Incoming& in, TimePoint now) {
  if (msg.cluster != config_.cluster) {
    if (allow_log())
      LL_WARN("dropped " << proto::type_name(msg.type) << " from " << msg.from << " of cluster " << msg.cluster);
    return;
  }
  if (msg.from == config_.name) {
    if (msg.endpoint == endpoint_) {
      if (!in.via_peer.empty()) membership_.drop_seed(in.via_peer);  // a seed that was ourselves
      if (msg.type == MessageType::kHello) reply_to(in, peer_message(MessageType::kWelcome, hello_body().to_json()));
    } else if (allow_log()) {
      LL_WARN("another device also calls itself " << msg.from << " (" << msg.endpoint << "); ignoring it");
    }
    return;
  }
  if (!bound_to_sender(msg, in)) return;
  if (msg.type == MessageType::kVoteRequest) {
    membership_.heard_from(msg.from, msg.endpoint, in.via_peer, now);
    handle_vote_request(msg, in, now);
    return;
  }
  Member* m = membership_.heard_from(msg.from, msg.endpoint, in.via_peer, now);
  if (m == nullptr) return;
  hints_.resolved(msg.endpoint);
  if (!in.via_peer.empty() && hints_.resolved(in.via_peer) && in.via_peer != msg.endpoint) {
    transport_.disconnect(in.via_peer);  // greeted under another address: the member's own endpoint is dialled
  }
  if (election_.observe_term(msg.term, now)) {
    LL_INFO("term " << election_.term() << " seen from " << msg.from);
    persist();
  }
  switch (msg.type) {
    case MessageType::kHello:
    case MessageType::kWelcome:
      handle_hello(msg, in, *m, now);
      break;
    case MessageType::kHeartbeat:
      handle_heartbeat(msg, in, *m, now);
      break;
    case MessageType::kVoteReply: {
      auto body = proto::VoteReplyBody::from_json(msg.body);
      if (!body.ok()) return reply_error(in, {"malformed", body.error(), "vote_reply"});
      if (body->candidate != config_.name) return;
      if (body->pre) {
        if (election_.on_prevote_reply(msg.from, body->asked_term, body->granted, membership_.quorum(), now)) {
          election_started(now);
        }
      } else if (election_.on_vote_reply(msg.from, msg.term, body->granted, membership_.quorum())) {
        send_heartbeats(now);
      }
      break;
    }
    case MessageType::kPing:
    case MessageType::kProbe: {
      auto body = proto::PingBody::from_json(msg.body, false);
      if (!body.ok()) return reply_error(in, {"malformed", body.error(), proto::type_name(msg.type)});
      body->bytes = msg.tensors.empty() ? 0 : msg.tensors[0].data.size();
      reply_to(in, peer_message(MessageType::kPong, body->to_json(true)));
      break;
    }
    case MessageType::kPong:
      handle_pong(msg, now);
      break;
    case MessageType::kBye:
      LL_INFO("member " << msg.from << " left");
      membership_.mark_left(msg.from);
      links_.forget(msg.from);
      if (election_.leader() == msg.from) leader_gone(now);
      break;
    default:
      break;
  }
}

bool Node::bound_to_sender(const Envelope& msg, const net::Incoming& in) {
  // A device name belongs to the key that first spoke for it: another device's key cannot speak in its name (vote
  // for it, claim its leadership, or be taken for it when a plan arrives). A reply on a connection we opened carries
  // no client key (the server proved it holds the cluster key).
  if (in.sender.key.empty() || !in.via_peer.empty()) return true;
  auto [it, fresh] = keys_.emplace(msg.from, in.sender.key);
  if (fresh && keys_.size() > proto::kMaxMembers) {
    keys_.erase(it);
    return false;
  }
  if (it->second == in.sender.key) return true;
  if (allow_log()) {
    LL_WARN("refused " << proto::type_name(msg.type) << " in the name of " << msg.from << " from key " << in.sender.name
                       << ": that device speaks with another key");
  }
  return false;
}

std::string Node::key_of(const std::string& name) const {
  auto it = keys_.find(name);
  return it == keys_.end() ? "" : it->second;
}

void Node::handle_hello(const Envelope& msg, const net::Incoming& in, Member& m, TimePoint now) {
  (void)now;
  auto body = proto::HelloBody::from_json(msg.body, msg.type == MessageType::kWelcome);
  if (!body.ok()) return reply_error(in, {"malformed", body.error(), proto::type_name(msg.type)});
  m.profile = body->profile;
  m.has_profile = true;
  learn_members(body->members);
  if (msg.type == MessageType::kHello) reply_to(in, peer_message(MessageType::kWelcome, hello_body().to_json()));
}

void Node::handle_heartbeat(const Envelope& msg, const net::Incoming& in, Member& m, TimePoint now) {
  auto body = proto::HeartbeatBody::from_json(msg.body);
  if (!body.ok()) return reply_error(in, {"malformed", body.error(), "heartbeat"});
  m.profile = body->profile;
  m.has_profile = true;
  m.links = body->links;
  m.term = msg.term;
  m.role = body->role;
  m.leader = body->leader;
  learn_members(body->members);
  if (body->role != "leader") return;
  switch (election_.on_leader_heartbeat(msg.from, msg.term, now)) {
    case LeaderVerdict::kStale:
      // Tell the stale leader about the newer term right away.
      send_to(msg.endpoint,
              peer_message(MessageType::kHeartbeat,
                           proto::HeartbeatBody{
                               role_name(election_.role()), election_.leader(), own_profile(), membership_.refs(), {}}
                               .to_json()));
      break;
    case LeaderVerdict::kConflict:
    case LeaderVerdict::kFollow:
      break;
  }
}

void Node::handle_vote_request(const Envelope& msg, const net::Incoming& in, TimePoint now) {
  auto request = proto::VoteRequestBody::from_json(msg.body);
  if (!request.ok()) return reply_error(in, {"malformed", request.error(), "vote_request"});
  if (request->pre) {
    // A pre-vote changes nothing here, not even our term.
    const bool would = election_.on_prevote_request(msg.term, now);
    reply_to(in,
             peer_message(MessageType::kVoteReply, proto::VoteReplyBody{would, msg.from, true, msg.term}.to_json()));
    return;
  }
  VoteDecision d = election_.on_vote_request(msg.from, msg.term, now);
  if (d.ignored) {
    LL_DEBUG("ignored vote request of " << msg.from << " for term " << msg.term << ": leader " << election_.leader()
                                        << " is alive");
    return;
  }
  bool granted = d.granted;
  if (d.state_changed && !persist()) granted = false;  // a vote we could not record is not given
  if (granted) LL_INFO("term " << election_.term() << ": voted for " << msg.from);
  reply_to(in,
           peer_message(MessageType::kVoteReply, proto::VoteReplyBody{granted, msg.from, false, msg.term}.to_json()));
}

void Node::handle_pong(const Envelope& msg, TimePoint now) {
  auto body = proto::PingBody::from_json(msg.body, true);
  if (!body.ok()) return;
  links_.answer(msg.from, body->nonce, body->bytes, now);  // only our own nonces, from whom we asked
}

void Node::shutdown() {
  const Envelope bye = peer_message(MessageType::kBye);
  for (const auto& ep : membership_.target_endpoints()) send_to(ep, bye);
  LL_INFO("said goodbye to " << membership_.target_endpoints().size() << " peers");
}

proto::StatusBody Node::status() const {
  proto::StatusBody s;
  s.self = config_.name;
  s.cluster = config_.cluster;
  s.role = role_name(election_.role());
  s.leader = election_.leader();
  s.term = election_.term();
  s.members_known = membership_.known_count();
  s.members_alive = membership_.alive_count();
  s.quorum = membership_.quorum();
  s.uptime_s = to_ms(clock_.now() - started_) / 1000.0;
  return s;
}

proto::DevicesBody Node::devices() const {
  const TimePoint now = clock_.now();
  proto::DevicesBody d;
  d.self = config_.name;
  d.leader = election_.leader();
  d.term = election_.term();
  proto::DeviceRow self;
  self.profile = own_profile();
  self.role = role_name(election_.role());
  self.term = election_.term();
  self.state = "self";
  self.last_heartbeat_ms = 0;
  d.devices.push_back(self);
  for (const auto& [name, m] : membership_.members()) {
    if (m.left) continue;
    proto::DeviceRow row;
    row.profile = m.profile;
    row.profile.name = name;
    row.profile.endpoint = m.endpoint;
    row.role = m.state == PeerState::kDead ? "-" : m.role;
    row.term = m.term;
    row.state = peer_state_name(m.state);
    row.last_heartbeat_ms = m.heard ? static_cast<int64_t>(to_ms(now - m.last_heard)) : -1;
    d.devices.push_back(std::move(row));
  }
  for (const auto& [peer, stat] : links_.stats()) d.links.push_back({config_.name, peer, stat});
  for (const auto& [name, m] : membership_.members()) {
    if (m.left || m.state == PeerState::kDead) continue;
    for (const auto& [peer, stat] : m.links) d.links.push_back({name, peer, stat});
  }
  return d;
}

}  // namespace ll::cluster
