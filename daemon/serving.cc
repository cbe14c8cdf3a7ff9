#include "daemon/serving.h"

#include <filesystem>

#include "common/log.h"
#include "net/curve.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace ll::daemon {
namespace {

// Links nobody has measured yet (a device that just joined) are assumed to be a decent home network.
constexpr double kAssumedBandwidth = 50e6;  // bytes/s
constexpr double kAssumedLatency = 2e-3;    // s

}  // namespace

Result<std::unique_ptr<Serving>> Serving::start(const ServingOptions& options) {
  std::unique_ptr<Serving> s(new Serving());
  s->options_ = options;
  pipeline::StageServerOptions so;
  so.bind = options.data_listen;
  so.name = options.name;
  so.emulated_speed = options.emulate_speed;
  so.prefill_chunk = options.prefill_chunk;
  so.emulated_egress = options.emulate_egress;
  so.speculation = options.speculation;
  so.draft_model = options.draft_model;
  Serving* self = s.get();
  so.on_stage_stats = [self](uint64_t version, uint64_t session, const std::vector<proto::StageStat>& stats) {
    if (deploy::ModelManager* manager = self->manager_ready_.load(std::memory_order_acquire))
      manager->observe(version, session, stats);
  };
  LL_ASSIGN_OR_RETURN(s->stage_, pipeline::StageServer::start(so));
  // The deploy thread starts before the manager exists (the manager needs its endpoint): until the manager is
  // published, its messages get an error (a peer retries) instead of a null dereference.
  const std::string deploy_bind = !options.deploy_listen.empty() ? options.deploy_listen
                                  : options.data_listen.rfind(':') != std::string::npos
                                      ? options.data_listen.substr(0, options.data_listen.rfind(':')) + ":*"
                                      : options.data_listen;
  LL_ASSIGN_OR_RETURN(
      s->deploy_,
      deploy::DeployServer::start(deploy_bind, [self](const net::Sender& sender, proto::DataMessage&& message) {
        deploy::ModelManager* manager = self->manager_ready_.load(std::memory_order_acquire);
        if (!manager)
          return std::optional<proto::DataMessage>(proto::DataErrorMsg{"not_ready", "the device is starting"});
        return manager->on_message(sender, std::move(message));
      }));
  deploy::ModelManagerOptions mo;
  mo.deploy_endpoint = s->deploy_->endpoint();
  mo.name = options.name;
  mo.data_dir = options.data_dir;
  mo.runtime.threads = options.threads;
  mo.rebalance.enabled = options.rebalance;
  mo.rebalance.cooldown_s = options.rebalance_cooldown_s;
  s->manager_ = std::make_unique<deploy::ModelManager>(mo, *s->stage_);
  LL_TRY_STATUS(s->manager_->init());
  s->manager_ready_.store(s->manager_.get(), std::memory_order_release);
  LL_INFO("data plane on " << s->stage_->endpoint() << ", deploy on " << s->deploy_->endpoint() << ", shard store in "
                           << options.data_dir << "/shards");
  return s;
}

Serving::~Serving() {
  stopping_ = true;
  if (stage_) stage_->stop();
  if (deploy_)
    deploy_
        ->stop();  // both call into the manager: they stop before it goes  // first: its thread calls into the manager
  manager_ready_.store(nullptr, std::memory_order_release);
  manager_.reset();
  stage_.reset();
}

Result<deploy::ClusterView> Serving::cluster_view(const cluster::Node& node) const {
  const proto::DevicesBody devices = node.devices();
  deploy::ClusterView view;
  view.term = node.term();
  std::map<std::string, int> index;
  for (const auto& row : devices.devices) {
    if (row.state != "self" && row.state != "alive") continue;
    if (row.profile.data_endpoint.empty() || row.profile.deploy_endpoint.empty() || row.profile.memory_budget == 0)
      continue;
    placement::Device d;
    d.name = row.profile.name;
    d.memory_bytes = row.profile.memory_budget;
    // Decode is memory-bound; the decode-shaped GFLOP/s measured at start is what a stage will see.
    d.flops = row.profile.gflops_decode > 0 ? row.profile.gflops_decode * 1e9 : 1e9;
    index[d.name] = static_cast<int>(view.problem.devices.size());
    view.problem.devices.push_back(d);
    view.data_endpoints.push_back(row.profile.data_endpoint);
    view.deploy_endpoints.push_back(row.profile.deploy_endpoint);
    if (row.state == "self") view.problem.head = index[d.name];
  }
  const int n = static_cast<int>(view.problem.devices.size());
  if (n == 0) return make_error("no device with a data plane is alive");
  view.problem.links.assign(n, std::vector<placement::Link>(n));
  for (int a = 0; a < n; ++a) {
    for (int b = 0; b < n; ++b) {
      if (a != b) view.problem.set_link(a, b, kAssumedBandwidth, kAssumedLatency);
    }
  }
  for (const auto& link : devices.links) {
    auto from = index.find(link.from), to = index.find(link.to);
    if (from == index.end() || to == index.end() || link.stat.rtt_ms <= 0) continue;
    const double bandwidth = link.stat.bandwidth_mbps > 0 ? link.stat.bandwidth_mbps * 1e6 : kAssumedBandwidth;
    view.problem.set_link(from->second, to->second, bandwidth, link.stat.rtt_ms / 2000.0);
  }
  return view;
}

Result<Serving::PreparedLoad> Serving::prepare_load(cluster::Node& node, const proto::Json& body) {
  if (node.role() != cluster::Role::kLeader) {
    return make_error("not the leader" +
                      (node.leader().empty() ? std::string(" (no leader yet)") : "; the leader is " + node.leader()));
  }
  deploy::LoadRequest request;
  LL_ASSIGN_OR_RETURN(request.package_dir, proto::get_string(body, "package", 4096));
  LL_ASSIGN_OR_RETURN(std::string objective, proto::get_string(body, "objective", 16));
  LL_ASSIGN_OR_RETURN(request.objective, placement::parse_objective(objective));
  LL_ASSIGN_OR_RETURN(request.context, proto::get_u64(body, "context"));
  LL_ASSIGN_OR_RETURN(request.wire, proto::get_string(body, "wire", 16));
  request.max_sessions = options_.max_sessions;
  request.choose_head = options_.choose_head;
  if (body.contains("max_sessions")) {  // optional; 0: this leader's --max-sessions
    LL_ASSIGN_OR_RETURN(uint64_t sessions, proto::get_u64(body, "max_sessions"));
    if (sessions > static_cast<uint64_t>(proto::kMaxPlanSessions))
      return make_error("max_sessions must be at most " + std::to_string(proto::kMaxPlanSessions));
    if (sessions > 0) request.max_sessions = static_cast<int>(sessions);
  }
  if (request.wire != "float32" && request.wire != "float16") return make_error("wire must be float32 or float16");
  if (body.contains("dry_run")) {
    LL_ASSIGN_OR_RETURN(request.dry_run, proto::get_bool(body, "dry_run"));
  }
  if (body.contains("policy")) {  // optional: optimal (the solver, default) or a peer rule, for benchmarks
    LL_ASSIGN_OR_RETURN(std::string policy, proto::get_string(body, "policy", 16));
    if (policy == "equal")
      request.rule = placement::PeerRule::kEqual;
    else if (policy == "memory")
      request.rule = placement::PeerRule::kMemory;
    else if (policy == "flops")
      request.rule = placement::PeerRule::kFlops;
    else if (policy != "optimal")
      return make_error("policy must be optimal, equal, memory or flops");
  }
  LL_ASSIGN_OR_RETURN(deploy::ClusterView view, cluster_view(node));
  return PreparedLoad{std::move(request), std::move(view)};
}

void Serving::register_commands(cluster::Node& node) {
  cluster::Node* n = &node;
  // The solver runs on the planner thread; the node answers when it is done and meanwhile keeps its heartbeats.
  node.dispatcher().add_deferred(
      proto::MessageType::kLoad, proto::MessageType::kPlanInfo,
      [this, n](const proto::Envelope& request, cluster::Dispatcher::Answer answer) {
        auto prepared = prepare_load(*n, request.body);
        if (!prepared) return answer(prepared.take_error());
        const std::string package = prepared->request.package_dir;
        manager_->load_async(prepared->request, std::move(prepared->cluster),
                             [answer, package](Result<proto::Json> plan) {
                               if (!plan) LL_WARN("refused to load " << package << ": " << plan.error());
                               answer(std::move(plan));
                             });
      },
      net::Role::kAdmin);
  node.dispatcher().add(proto::MessageType::kGetPlan, proto::MessageType::kPlanInfo,
                        [this, n](const proto::Envelope&) -> Result<proto::Json> {
                          proto::Json status = manager_->status_json();
                          status["self"] = n->name();
                          const auto stats = stage_->stats();
                          status["stage"] = {{"plan_version", stats.plan_version},
                                             {"open_sessions", stats.open_sessions},
                                             {"steps", stats.steps},
                                             {"batched_steps", stats.batched_steps},
                                             {"tokens_generated", stats.tokens_generated},
                                             {"replayed_sessions", stats.replayed_sessions},
                                             {"compute_ms_avg", stats.compute_ms_avg},
                                             {"queue_depth", stats.queue_depth},
                                             {"emulated_speed", stats.emulated_speed},
                                             {"bytes_sent", stats.bytes_sent}};
                          return status;
                        });
  node.dispatcher().add(
      proto::MessageType::kSetSpeed, proto::MessageType::kSpeedSet,
      [this](const proto::Envelope& request) -> Result<proto::Json> {
        LL_ASSIGN_OR_RETURN(double speed, proto::get_number(request.body, "speed"));
        if (!(speed > 0 && speed <= 1)) return make_error("speed must be in (0, 1]");
        stage_->set_emulated_speed(speed);
        LL_INFO("emulating " << speed << "x of this device's speed");
        return proto::Json{{"speed", speed}};
      },
      net::Role::kAdmin);
}

void Serving::tick(cluster::Node& node) {
  const bool leader = node.role() == cluster::Role::kLeader;
  // Plans count only from the leader of this term, with the key it speaks with (deploy/plan_fence.h); a leader
  // takes none from others.
  manager_->set_term(node.term(), node.leader(),
                     leader ? net::security().device.public_key : node.key_of(node.leader()));
  manager_->set_leader(leader);
  if (leader && manager_->adopt_deployed_model()) {
    model_loaded_ = true;  // a --model given to this daemon is already what the cluster runs
    recovered_version_ = 0;
  }
  recover_lost_devices(node);
  if (options_.model.empty() || model_loaded_) return;
  if (node.role() != cluster::Role::kLeader) {
    leader_since_ = {};
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (leader_since_ == std::chrono::steady_clock::time_point{}) leader_since_ = now;
  if (now - leader_since_ < std::chrono::seconds(2)) return;  // let peers' profiles arrive
  model_loaded_ = true;
  proto::Json body = {{"package", options_.model}, {"objective", "latency"}, {"context", 0}, {"wire", "float32"}};
  auto prepared = prepare_load(node, body);
  if (!prepared) {
    LL_ERROR("--model " << options_.model << ": " << prepared.error());
    return;
  }
  manager_->load_async(prepared->request, std::move(prepared->cluster),
                       [model = options_.model](Result<proto::Json> plan) {
                         if (!plan) LL_ERROR("--model " << model << ": " << plan.error());
                       });
}

void Serving::recover_lost_devices(cluster::Node& node) {
  if (node.role() != cluster::Role::kLeader || !manager_->has_model()) return;
  const uint64_t version = manager_->plan_version();
  if (version == recovered_version_) return;
  const proto::DevicesBody devices = node.devices();
  std::string lost;
  for (const auto& name : manager_->plan_devices()) {
    bool alive = false;
    for (const auto& row : devices.devices) {
      // A suspect (late heartbeat) is given until the heartbeat timeout: only the dead are planned around.
      if (row.profile.name == name) alive = row.state != "dead";
    }
    if (!alive) lost += (lost.empty() ? "" : ", ") + name;
  }
  if (lost.empty()) return;
  recovered_version_ = version;
  LL_WARN("lost " << lost << " from plan " << version << ": re-planning over the survivors");
  auto cannot_continue = [this, lost](const std::string& error) {
    if (stopping_) return;
    LL_ERROR("cannot continue without " << lost << ": " << error);
    manager_->set_plan_error("lost " + lost + " and the survivors cannot hold the model: " + error);
    stage_->abort_sessions("lost " + lost + " and the survivors cannot hold the model: " + error);
  };
  auto view = cluster_view(node);
  if (!view) return cannot_continue(view.error());
  // Solved on the planner thread: the node keeps its heartbeats (and its office) while the survivors are planned.
  manager_->replan_async(std::move(view).value(), [cannot_continue](Result<proto::Json> plan) {
    if (!plan) cannot_continue(plan.error());
  });
  // Not recovered_version_ = the new version: a loss on the new plan must be planned around too (it was not, and a
  // second loss hung the cluster).
}

}  // namespace ll::daemon
