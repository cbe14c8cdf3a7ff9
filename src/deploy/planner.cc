#include "deploy/planner.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/log.h"
#include "deploy/plan_fence.h"
#include "deploy/standby.h"
#include "model/manifest.h"
#include "net/curve.h"
#include "placement/cost_model.h"
#include "placement/plan_io.h"

namespace ll::deploy {
namespace {

using Clock = std::chrono::steady_clock;

// How often the load balancer looks at the observed stage times.
constexpr auto kRebalanceTick = std::chrono::milliseconds(50);

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void send_once(zmq::context_t& context, const std::string& endpoint, const proto::DataMessage& message) {
  auto frames = proto::encode_data_message(message);
  if (!frames) return;
  try {
    zmq::socket_t socket(context, zmq::socket_type::dealer);
    net::secure_client(socket);
    socket.set(zmq::sockopt::linger, 2000);
    socket.connect(endpoint);
    for (size_t i = 0; i < frames->size(); ++i) {
      socket.send(zmq::buffer((*frames)[i]), i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  } catch (const zmq::error_t& e) {
    LL_WARN("cannot send " << proto::data_message_name(message) << " to " << endpoint << ": " << e.what());
  }
}

}  // namespace

Planner::Planner(std::string name, RebalanceOptions rebalance, StatusSignal& signal, PlannerHooks hooks)
    : name_(std::move(name)), rebalance_(rebalance), signal_(signal), hooks_(std::move(hooks)) {
  thread_ = std::thread([this] { run(); });
}

Planner::~Planner() { stop(); }

void Planner::stop() {
  std::deque<Job> left;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    left.swap(jobs_);
  }
  for (auto& job : left) job.done(make_error("the daemon is stopping"));
}

void Planner::load_async(LoadRequest request, ClusterView cluster, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      jobs_.push_back(Job{std::move(request), std::move(cluster), std::move(done)});
      wake_.notify_all();
      return;
    }
  }
  done(make_error("the daemon is stopping"));
}

void Planner::replan_async(ClusterView cluster, Done done) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!stopping_) {
      jobs_.push_back(Job{std::nullopt, std::move(cluster), std::move(done)});
      wake_.notify_all();
      return;
    }
  }
  done(make_error("the daemon is stopping"));
}

void Planner::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    if (jobs_.empty()) {
      wake_.wait_for(lock, kRebalanceTick);
      if (stopping_) break;
    }
    if (!jobs_.empty()) {
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      Result<nlohmann::json> result = run_job(job);
      job.done(std::move(result));
      lock.lock();
      continue;
    }
    lock.unlock();
    if (rebalance_.enabled && leader_) rebalance_once();
    lock.lock();
  }
}

Result<nlohmann::json> Planner::run_job(Job& job) {
  LoadRequest request;
  std::string manifest_text;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (job.request) {
      request = *job.request;
    } else {
      request = request_;
      request.dry_run = false;
    }
    if (request.package_dir.empty()) manifest_text = manifest_text_;
  }
  const bool deployed = request.package_dir.empty();  // re-plan of an adopted model: no package folder here
  if (!deployed) {
    LL_ASSIGN_OR_RETURN(manifest_text, read_text(request.package_dir + "/manifest.json"));
  }
  if (manifest_text.empty()) return make_error("no model to plan");
  LL_ASSIGN_OR_RETURN(Manifest manifest, deployed ? parse_manifest(manifest_text) : load_manifest(request.package_dir));
  const std::string tokenizer_path = request.package_dir + "/" + manifest.tokenizer.file;
  if (!deployed) {
    LL_TRY_STATUS(verify_file(tokenizer_path, file_size(tokenizer_path), manifest.tokenizer.sha256));
  }
  LL_ASSIGN_OR_RETURN(placement::PlacementProblem profiled,
                      placement::with_model(std::move(job.cluster.problem), manifest, request.context,
                                            static_cast<uint64_t>(request.max_sessions)));
  placement::PlacementProblem problem;  // what the plan optimises: calibrated once a plan of this model ran
  nlohmann::json calibration;
  std::string source;
  bool head_alive = false;  // the plan in force's head is among the devices planned over
  {
    std::lock_guard<std::mutex> lock(mutex_);
    problem = calibrator_.apply(manifest.name, profiled);
    source = calibrator_.source(manifest.name);
    if (calibrator_.calibrated(manifest.name)) calibration = calibrator_.to_json();
    // The incumbent head is the plan in force's head while it lives (a re-plan after a loss keeps the sessions'
    // head where it can: they replay there instead of resuming elsewhere); otherwise this leader.
    if (local_plan_ && !local_plan_->stages.empty()) {
      for (int d = 0; d < problem.num_devices(); ++d) {
        if (problem.devices[d].name == local_plan_->stages[0].device) {
          problem.head = d;
          head_alive = true;
        }
      }
    }
  }
  placement::SolveOptions solve;
  solve.objective = request.objective;
  // The head is the solver's choice at a load; a re-plan (a lost device) moves it only if the head itself was lost,
  // so that sessions in flight replay where they are.
  solve.choose_head = request.choose_head && (job.request.has_value() || !head_alive);
  Result<placement::Plan> planned = make_error("no plan");
  if (request.rule) {
    placement::RuleResult by_rule = placement::apply_peer_rule(problem, *request.rule, request.objective);
    if (!by_rule.plan)
      return make_error(std::string(placement::peer_rule_name(*request.rule)) + ": " + by_rule.plan.error());
    planned = std::move(by_rule.plan);
  } else {
    planned = placement::solve_placement(problem, solve);  // no lock held: the slow part
  }
  LL_ASSIGN_OR_RETURN(placement::Plan plan, std::move(planned));
  if (request.dry_run) {
    nlohmann::json summary = placement::plan_to_json(problem, plan);
    summary["model"] = manifest.name;
    summary["dry_run"] = true;
    summary["prediction_source"] = source;
    if (!calibration.is_null()) summary["calibration"] = calibration;
    return summary;
  }
  Announcement announcement;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    request_ = request;
    manifest_text_ = std::move(manifest_text);
    model_name_ = manifest.name;
    data_endpoints_ = std::move(job.cluster.data_endpoints);
    deploy_endpoints_ = std::move(job.cluster.deploy_endpoints);
    served_files_.clear();
    if (!deployed) {
      for (const auto& shard : manifest.shards) served_files_[shard.sha256] = request.package_dir + "/" + shard.file;
      served_files_[manifest.tokenizer.sha256] = tokenizer_path;
    }
    plan_error_.clear();
    replans_ = nlohmann::json::array();
    profiled_ = std::move(profiled);
    announcement = announce_locked(problem, plan, job.cluster.term);
  }
  nlohmann::json summary = announcement.summary;
  deliver(std::move(announcement));
  return summary;
}

Planner::Announcement Planner::announce_locked(const placement::PlacementProblem& problem, const placement::Plan& plan,
                                               uint64_t term) {
  proto::PlanMsg msg;
  msg.term = term;
  msg.leader_deploy_endpoint = hooks_.own_endpoint();
  msg.manifest_json = manifest_text_;
  msg.wire = request_.wire;
  msg.max_sessions = static_cast<int64_t>(problem.sessions);
  // Versions grow across leaders: the term is the high part.
  msg.plan_version = (term << kPlanTermShift) | (++next_plan_version_ & ((uint64_t{1} << kPlanTermShift) - 1));
  for (const auto& s : plan.stages) {
    proto::PlanStage stage;
    stage.device = problem.devices[s.device].name;
    stage.data_endpoint = data_endpoints_[s.device];
    stage.deploy_endpoint = deploy_endpoints_[s.device];
    stage.first_shard = s.first_shard;
    stage.last_shard = s.last_shard;
    stage.backup_shards.assign(s.backup_shards.begin(), s.backup_shards.end());
    msg.stages.push_back(std::move(stage));
  }
  // Every shard on two devices: the placement's backups fit spare memory (ready to run); a shard that got none is
  // also kept on disk by the next stage, so losing any one device — the leader too — loses no file.
  if (msg.stages.size() > 1) {
    std::vector<int> copies(static_cast<size_t>(problem.num_shards()), 0);
    for (const auto& st : msg.stages) {
      for (int64_t i = st.first_shard; i <= st.last_shard; ++i) ++copies[i];
      for (int64_t b : st.backup_shards) ++copies[b];
    }
    for (size_t s = 0; s < msg.stages.size(); ++s) {
      auto& next = msg.stages[(s + 1) % msg.stages.size()];
      for (int64_t i = msg.stages[s].first_shard; i <= msg.stages[s].last_shard; ++i) {
        if (copies[i] >= 2) continue;
        next.backup_shards.push_back(i);
        ++copies[i];
      }
    }
  }
  msg.standby = plan_standby(problem, msg.stages);
  problem_ = problem;
  spans_ = plan.spans();
  detector_ = SlowdownDetector(rebalance_);
  detector_.reset(static_cast<int>(spans_.size()), Clock::now());
  calibrator_.start_plan(model_name_, profiled_, spans_);
  progress_.clear();
  for (const auto& stage : msg.stages) {
    Progress& p = progress_[stage.device];
    p.last.device = stage.device;
    p.last.plan_version = msg.plan_version;
    p.last.state = "planned";
    p.first_seen = p.updated = Clock::now();
  }
  nlohmann::json summary = placement::plan_to_json(problem, plan);
  summary["version"] = msg.plan_version;
  summary["term"] = msg.term;
  summary["model"] = model_name_;
  summary["package"] = request_.package_dir;
  summary["wire"] = request_.wire;
  summary["planned_s_per_token"] = plan.objective_value();  // as planned; predicted_s_per_token follows calibration
  summary["prediction_source"] = calibrator_.source(model_name_);
  plan_json_ = summary;
  LL_INFO("plan " << msg.plan_version << ": " << model_name_ << " over " << msg.stages.size() << " stage(s), "
                  << placement::objective_name(plan.objective) << " " << plan.objective_value() * 1000
                  << " ms/token predicted");
  Announcement out;
  // Every device hears of the plan, also those left out (they drop any stage they had).
  for (size_t d = 0; d < problem.devices.size(); ++d) {
    if (problem.devices[d].name != name_) out.recipients.push_back(deploy_endpoints_[d]);
  }
  local_plan_ = msg;
  out.plan = std::move(msg);
  out.package_dir = request_.package_dir;
  out.summary = summary;
  return out;
}

void Planner::deliver(Announcement announcement) {
  signal_.notify();
  for (const auto& endpoint : announcement.recipients) send_once(context_, endpoint, announcement.plan);
  hooks_.apply_locally(std::move(announcement.plan), std::move(announcement.package_dir));
}

void Planner::rebalance_once() {
  placement::PlacementProblem problem;
  std::vector<placement::StageSpan> spans;
  std::vector<double> slowdown;
  placement::SolveOptions solve;
  uint64_t version = 0;
  nlohmann::json entry;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!local_plan_ || !all_ready_locked()) return;
    auto observed = detector_.slowdown(Clock::now());
    if (!observed) return;
    problem = problem_;
    spans = spans_;
    slowdown = std::move(*observed);
    solve.objective = request_.objective;
    solve.choose_head = false;  // load balancing moves layers, not the head: sessions in flight replay where they are
    version = local_plan_->plan_version;
    entry = {{"from_version", version},
             {"at_unix_s", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
             {"observed_ms", detector_.observed_ms()},
             {"baseline_ms", detector_.baseline_ms()}};
  }
  entry["head_tokens_generated"] = hooks_.head_tokens_generated();
  // The solver runs with no lock held; its answer is used only if the plan it started from is still in force.
  auto decision = decide_replan(std::move(problem), spans, slowdown, solve, rebalance_);
  Announcement announcement;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!leader_ || !local_plan_ || local_plan_->plan_version != version) return;  // re-planned or deposed meanwhile
    if (!decision) {
      entry["reason"] = "re-plan failed: " + decision.error();
      replans_.push_back(entry);
      detector_.reset(static_cast<int>(spans_.size()), Clock::now());
      signal_.notify();
      return;
    }
    // The slowed devices' new speeds outlive this plan: a later load of the model is planned with them too.
    for (size_t s = 0; s < spans.size() && s < slowdown.size(); ++s) {
      if (slowdown[s] != 1.0) calibrator_.scale_device(decision->problem.devices[spans[s].device].name, slowdown[s]);
    }
    entry["reason"] = decision->reason;
    entry["applied"] = decision->apply;
    entry["predicted_current_s_per_token"] = decision->current_s;
    entry["predicted_new_s_per_token"] = decision->proposed_s;
    LL_INFO("load balancing: " << decision->reason);
    if (!decision->apply) {  // remember the observed speeds; watch again from here
      problem_ = decision->problem;
      detector_.accept(slowdown, Clock::now());
      replans_.push_back(entry);
      signal_.notify();
      return;
    }
    announcement = announce_locked(decision->problem, decision->plan, std::max(local_plan_->term, term_.load()));
    entry["to_version"] = announcement.summary["version"];
    replans_.push_back(entry);
  }
  deliver(std::move(announcement));
}

bool Planner::adopt(const std::optional<proto::PlanMsg>& held) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!held || local_plan_) return false;
  auto manifest = parse_manifest(held->manifest_json);
  if (!manifest) return false;
  manifest_text_ = held->manifest_json;
  model_name_ = manifest->name;
  request_ = LoadRequest{};
  request_.wire = held->wire;
  request_.max_sessions = static_cast<int>(held->max_sessions);  // a re-plan keeps the concurrency it reserved for
  local_plan_ = *held;
  served_files_.clear();  // the store serves what it holds (FileServer)
  data_endpoints_.clear();
  deploy_endpoints_.clear();
  progress_.clear();
  spans_.clear();
  calibrator_.start_plan(model_name_, placement::PlacementProblem{}, {});  // no plan of its own to calibrate
  replans_ = nlohmann::json::array();
  plan_json_ = nlohmann::json{{"version", held->plan_version},
                              {"term", held->term},
                              {"model", model_name_},
                              {"wire", held->wire},
                              {"adopted", true}};
  LL_INFO("took over " << model_name_ << " (plan " << held->plan_version << ") from the previous leader");
  return true;
}

void Planner::forget_if_older_than(uint64_t plan_version) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!local_plan_ || plan_version <= local_plan_->plan_version) return;
  // Another leader planned since: this device no longer owns the deployment.
  local_plan_.reset();
  manifest_text_.clear();
  progress_.clear();
  spans_.clear();
}

void Planner::set_plan_error(std::string error) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    plan_error_ = std::move(error);
  }
  signal_.notify();
}

void Planner::report(const proto::LoadProgressMsg& progress) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = progress_.find(progress.device);
    if (it == progress_.end() || progress.plan_version != it->second.last.plan_version) return;
    it->second.last = progress;
    it->second.updated = Clock::now();
    if (progress.state == "failed") LL_WARN("device " << progress.device << " failed to load: " << progress.error);
    if (progress.state == "ready") LL_INFO("device " << progress.device << " ready");
  }
  signal_.notify();
}

void Planner::observe(uint64_t plan_version, uint64_t session, const std::vector<proto::StageStat>& stats) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!local_plan_ || plan_version != local_plan_->plan_version) return;  // timings of another plan
    for (const auto& s : stats) detector_.observe(static_cast<int>(s.stage), s.compute_ms);
    if (spans_.empty() || !calibrator_.observe(session, stats, Clock::now())) return;
    refresh_prediction_locked();
  }
  signal_.notify();
}

void Planner::refresh_prediction_locked() {
  problem_ = calibrator_.apply(model_name_, profiled_);
  auto plan = placement::evaluate_plan(problem_, spans_, request_.objective);
  if (!plan) {
    LL_WARN("calibration: cannot price the plan in force: " << plan.error());
    return;
  }
  plan_json_ = with_prediction(std::move(plan_json_), placement::plan_to_json(problem_, *plan));
  plan_json_["prediction_source"] = calibrator_.source(model_name_);
  LL_INFO("plan " << local_plan_->plan_version << " calibrated: " << plan->objective_value() * 1000
                  << " ms/token predicted (" << plan_json_["prediction_source"].get<std::string>() << ")");
}

Result<bool> Planner::wait_for_other_stages(uint64_t version, const std::atomic<bool>& cancel) const {
  while (!cancel) {
    const uint64_t seen = signal_.changes();
    bool all_ready = true;
    std::string failed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!local_plan_ || local_plan_->plan_version != version) return false;  // superseded
      for (const auto& [name, p] : progress_) {
        if (name == name_) continue;
        if (p.last.state == "failed") failed = name + ": " + p.last.error;
        all_ready = all_ready && p.last.state == "ready";
      }
    }
    if (!failed.empty()) return make_error("device " + failed);
    if (all_ready) return true;
    // Every report, re-plan and cancellation notifies the signal; the deadline only bounds a missed wake-up.
    (void)signal_.wait_past(seen, Clock::now() + std::chrono::seconds(1));
  }
  return false;
}

bool Planner::all_ready_locked() const {
  for (const auto& [name, p] : progress_) {
    if (p.last.state != "ready") return false;
  }
  return !progress_.empty();
}

bool Planner::has_model() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !manifest_text_.empty() && local_plan_.has_value();
}

std::vector<std::string> Planner::plan_devices() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  if (local_plan_) {
    for (const auto& s : local_plan_->stages) out.push_back(s.device);
  }
  return out;
}

std::string Planner::served_path(const std::string& sha256) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = served_files_.find(sha256);
  return it == served_files_.end() ? "" : it->second;
}

nlohmann::json Planner::status_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = plan_json_.is_null() ? nlohmann::json::object() : plan_json_;
  if (!plan_error_.empty()) out["error"] = plan_error_;
  out["replans"] = replans_;
  if (!spans_.empty()) {
    out["observed_stage_ms"] = detector_.observed_ms();
    out["baseline_stage_ms"] = detector_.baseline_ms();
    out["calibration"] = calibrator_.to_json();
  }
  nlohmann::json devices = nlohmann::json::array();
  const auto now = Clock::now();
  for (const auto& [name, p] : progress_) {
    const double seconds = std::chrono::duration<double>(p.updated - p.first_seen).count();
    const uint64_t fetched = p.last.bytes_done - std::min(p.last.bytes_done, p.last.bytes_from_cache);
    devices.push_back({{"device", name},
                       {"state", p.last.state},
                       {"bytes_done", p.last.bytes_done},
                       {"bytes_total", p.last.bytes_total},
                       {"bytes_from_cache", p.last.bytes_from_cache},
                       {"rate_bytes_per_s", seconds > 0 ? fetched / seconds : 0.0},
                       {"seconds_since_update", std::chrono::duration<double>(now - p.updated).count()},
                       {"error", p.last.error}});
  }
  out["devices"] = devices;
  return out;
}

}  // namespace ll::deploy
