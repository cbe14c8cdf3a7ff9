#include "deploy/model_manager.h"

#include "common/log.h"

#include <future>

namespace ll::deploy {

ModelManager::ModelManager(ModelManagerOptions options, pipeline::StageServer& stage)
    : options_(std::move(options)), stage_(stage), store_(options_.data_dir + "/shards") {
  LoaderHooks loader_hooks;
  loader_hooks.own_endpoint = [this] { return own_endpoint(); };
  loader_hooks.report_locally = [this](const proto::LoadProgressMsg& p) { planner_->report(p); };
  loader_hooks.wait_for_other_stages = [this](uint64_t version, const std::atomic<bool>& cancel) {
    return planner_->wait_for_other_stages(version, cancel);
  };
  loader_ = std::make_unique<DeviceLoader>(options_.name, options_.runtime, store_, stage_, signal_, loader_hooks);
  files_ = std::make_unique<FileServer>(
      store_, FileLookups{[this](const std::string& sha) { return planner_->served_path(sha); },
                          [this](const std::string& sha) { return loader_->plan_names(sha); }});
  PlannerHooks planner_hooks;
  planner_hooks.own_endpoint = [this] { return own_endpoint(); };
  planner_hooks.apply_locally = [this](proto::PlanMsg plan, std::string dir) {
    (void)loader_->apply(std::move(plan), std::move(dir));
  };
  planner_hooks.head_tokens_generated = [this] { return stage_.stats().tokens_generated; };
  planner_ = std::make_unique<Planner>(options_.name, options_.rebalance, signal_, planner_hooks);
}

ModelManager::~ModelManager() {
  // Each piece's thread calls into the other (the planner applies plans to the loader; the loader reports to the
  // planner): both threads stop before either object goes.
  planner_->stop();
  loader_.reset();
  planner_.reset();
}

Status ModelManager::init() { return store_.init(); }

void ModelManager::set_advertised_endpoint(std::string endpoint) {
  std::lock_guard<std::mutex> lock(endpoint_mutex_);
  advertised_ = std::move(endpoint);
}

std::string ModelManager::own_endpoint() const {
  std::lock_guard<std::mutex> lock(endpoint_mutex_);
  return advertised_.empty() ? options_.deploy_endpoint : advertised_;
}

void ModelManager::load_async(const LoadRequest& request, ClusterView cluster, Planner::Done done) {
  planner_->load_async(request, std::move(cluster), std::move(done));
}

void ModelManager::replan_async(ClusterView cluster, Planner::Done done) {
  planner_->replan_async(std::move(cluster), std::move(done));
}

namespace {
Result<nlohmann::json> wait_for(std::future<Result<nlohmann::json>> answer) { return answer.get(); }
}  // namespace

Result<nlohmann::json> ModelManager::load(const LoadRequest& request, ClusterView cluster) {
  auto promise = std::make_shared<std::promise<Result<nlohmann::json>>>();
  auto answer = promise->get_future();
  load_async(request, std::move(cluster), [promise](Result<nlohmann::json> r) { promise->set_value(std::move(r)); });
  return wait_for(std::move(answer));
}

Result<nlohmann::json> ModelManager::replan(ClusterView cluster) {
  auto promise = std::make_shared<std::promise<Result<nlohmann::json>>>();
  auto answer = promise->get_future();
  replan_async(std::move(cluster), [promise](Result<nlohmann::json> r) { promise->set_value(std::move(r)); });
  return wait_for(std::move(answer));
}

bool ModelManager::adopt_deployed_model() { return planner_->adopt(loader_->plan()); }
void ModelManager::set_leader(bool leader) {
  leader_.store(leader);
  planner_->set_leader(leader);
}
void ModelManager::set_plan_error(std::string error) { planner_->set_plan_error(std::move(error)); }
bool ModelManager::has_model() const { return planner_->has_model(); }
std::vector<std::string> ModelManager::plan_devices() const { return planner_->plan_devices(); }

void ModelManager::observe(uint64_t plan_version, uint64_t session, const std::vector<proto::StageStat>& stats) {
  if (leader_.load()) {
    planner_->observe(plan_version, session, stats);
    return;
  }
  // The head is not the leader (the solver chose it): the leader's load balancing and calibration need the figures.
  const std::string leader = loader_->leader_deploy_endpoint(plan_version);
  if (leader.empty()) return;
  forwarder_.send(leader, proto::StepStatsMsg{plan_version, session, stats});
}

void ModelManager::set_term(uint64_t term, std::string leader, std::string leader_key) {
  planner_->set_term(term);
  auto released = fence_.set_leader(term, std::move(leader), std::move(leader_key));
  if (!released || released->plan_version <= loader_->plan_version()) return;
  LL_INFO("plan " << released->plan_version << " of term " << term << " now counts");
  planner_->forget_if_older_than(released->plan_version);
  (void)loader_->apply(std::move(*released), "");
}

std::optional<proto::DataMessage> ModelManager::on_message(const net::Sender& sender, proto::DataMessage&& message) {
  if (auto* plan = std::get_if<proto::PlanMsg>(&message)) {
    const PlanFence::Checked checked = fence_.check(*plan, sender.key);
    if (checked.verdict != PlanFence::Verdict::kAccept) {
      const uint64_t n = ++fenced_plans_;
      if (n <= 8 || n % 1000 == 0) {
        LL_WARN((checked.verdict == PlanFence::Verdict::kHold ? "held" : "refused")
                << " plan " << plan->plan_version << " from key " << (sender.name.empty() ? "-" : sender.name) << ": "
                << checked.reason << (n > 8 ? " (" + std::to_string(n) + " so far)" : ""));
      }
      if (checked.verdict == PlanFence::Verdict::kHold) return std::nullopt;
      return proto::DataErrorMsg{"forbidden", "plan refused: " + checked.reason};
    }
    if (plan->plan_version <= loader_->plan_version()) return std::nullopt;  // stale or repeated
    planner_->forget_if_older_than(plan->plan_version);
    (void)loader_->apply(std::move(*plan), "");
    return std::nullopt;
  }
  if (auto* fetch = std::get_if<proto::FetchMsg>(&message)) return files_->serve(*fetch);
  if (auto* progress = std::get_if<proto::LoadProgressMsg>(&message)) {
    planner_->report(*progress);
    return std::nullopt;
  }
  if (auto* step = std::get_if<proto::StepStatsMsg>(&message)) {  // from the head (ignored unless this plan's leader)
    planner_->observe(step->plan_version, step->session, step->stats);
    return std::nullopt;
  }
  return std::nullopt;
}

bool ModelManager::wait_for_status(const std::function<bool(const nlohmann::json&)>& ready,
                                   std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const uint64_t seen = signal_.changes();
    if (ready(status_json())) return true;
    if (!signal_.wait_past(seen, deadline)) return false;
  }
}

nlohmann::json ModelManager::status_json() const {
  nlohmann::json out = planner_->status_json();
  out["local_state"] = loader_->state();
  if (auto plan = loader_->plan()) {
    out["version"] = plan->plan_version;
    out["head_data_endpoint"] = plan->stages[0].data_endpoint;
    if (!out.contains("stages")) {
      nlohmann::json stages = nlohmann::json::array();
      for (const auto& s : plan->stages) {
        stages.push_back({{"device", s.device}, {"first_shard", s.first_shard}, {"last_shard", s.last_shard}});
      }
      out["stages"] = stages;
    }
  }
  return out;
}

std::string ModelManager::head_data_endpoint() const {
  auto plan = loader_->plan();
  return plan ? plan->stages[0].data_endpoint : "";
}

uint64_t ModelManager::plan_version() const { return loader_->plan_version(); }
std::string ModelManager::local_state() const { return loader_->state(); }

}  // namespace ll::deploy
