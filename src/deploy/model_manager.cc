#include "deploy/model_manager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/log.h"
#include "deploy/shard_fetcher.h"
#include "deploy/standby.h"
#include "model/package.h"
#include "net/curve.h"
#include "placement/plan_io.h"

namespace ll::deploy {
namespace {

using Clock = std::chrono::steady_clock;

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

ModelManager::ModelManager(ModelManagerOptions options, pipeline::StageServer& stage)
    : options_(std::move(options)), stage_(stage), store_(options_.data_dir + "/shards") {}

ModelManager::~ModelManager() {
  stopping_ = true;
  if (monitor_.joinable()) monitor_.join();
  stop_worker();
}

Status ModelManager::init() { return store_.init(); }

void ModelManager::set_advertised_endpoint(std::string endpoint) {
  std::lock_guard<std::mutex> lock(mutex_);
  advertised_ = std::move(endpoint);
}

Result<nlohmann::json> ModelManager::load(const LoadRequest& request, ClusterView cluster) {
  const bool deployed = request.package_dir.empty();  // re-plan of an adopted model: no package folder here
  std::string manifest_text;
  if (deployed) {
    std::lock_guard<std::mutex> lock(mutex_);
    manifest_text = manifest_text_;
  } else {
    LL_ASSIGN_OR_RETURN(manifest_text, read_text(request.package_dir + "/manifest.json"));
  }
  if (manifest_text.empty()) return make_error("no model to plan");
  LL_ASSIGN_OR_RETURN(Manifest manifest, deployed ? parse_manifest(manifest_text) : load_manifest(request.package_dir));
  const std::string tokenizer_path = request.package_dir + "/" + manifest.tokenizer.file;
  if (!deployed) {
    LL_TRY_STATUS(verify_file(tokenizer_path, file_size(tokenizer_path), manifest.tokenizer.sha256));
  }
  LL_ASSIGN_OR_RETURN(placement::PlacementProblem problem,
                      placement::with_model(std::move(cluster.problem), manifest, request.context));
  placement::SolveOptions solve;
  solve.objective = request.objective;
  Result<placement::Plan> planned = make_error("no plan");
  if (request.rule) {
    placement::RuleResult by_rule = placement::apply_peer_rule(problem, *request.rule, request.objective);
    if (!by_rule.plan)
      return make_error(std::string(placement::peer_rule_name(*request.rule)) + ": " + by_rule.plan.error());
    planned = std::move(by_rule.plan);
  } else {
    planned = placement::solve_placement(problem, solve);
  }
  LL_ASSIGN_OR_RETURN(placement::Plan plan, std::move(planned));
  if (request.dry_run) {
    nlohmann::json summary = placement::plan_to_json(problem, plan);
    summary["model"] = manifest.name;
    summary["dry_run"] = true;
    return summary;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  request_ = request;
  manifest_text_ = std::move(manifest_text);
  model_name_ = manifest.name;
  data_endpoints_ = std::move(cluster.data_endpoints);
  served_files_.clear();
  if (!deployed) {
    for (const auto& shard : manifest.shards) served_files_[shard.sha256] = request.package_dir + "/" + shard.file;
    served_files_[manifest.tokenizer.sha256] = tokenizer_path;
  }
  plan_error_.clear();
  replans_ = nlohmann::json::array();
  if (!monitor_.joinable() && options_.rebalance.enabled) monitor_ = std::thread([this] { monitor(); });
  auto summary = announce(problem, plan, cluster.term);
  if (!summary) return summary;
  proto::PlanMsg local = *local_plan_;
  const std::string dir = local_dir_;
  lock.unlock();
  apply_plan(std::move(local), dir);
  return summary;
}

Result<nlohmann::json> ModelManager::announce(const placement::PlacementProblem& problem, const placement::Plan& plan,
                                              uint64_t term) {
  proto::PlanMsg msg;
  msg.term = term;
  msg.leader_data_endpoint = advertised_.empty() ? stage_.endpoint() : advertised_;
  msg.manifest_json = manifest_text_;
  msg.wire = request_.wire;
  // Versions grow across leaders: the term is the high part.
  msg.plan_version = (term << 24) | (++next_plan_version_ & 0xffffff);
  for (const auto& s : plan.stages) {
    proto::PlanStage stage;
    stage.device = problem.devices[s.device].name;
    stage.data_endpoint = data_endpoints_[s.device];
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
  detector_ = SlowdownDetector(options_.rebalance);
  detector_.reset(static_cast<int>(spans_.size()), Clock::now());
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
  plan_json_ = summary;
  LL_INFO("plan " << msg.plan_version << ": " << model_name_ << " over " << msg.stages.size() << " stage(s), "
                  << placement::objective_name(plan.objective) << " " << plan.objective_value() * 1000
                  << " ms/token predicted");
  // Every device hears of the plan, also those left out (they drop any stage they had).
  for (size_t d = 0; d < problem.devices.size(); ++d) {
    if (problem.devices[d].name == options_.name) continue;
    send_once(context_, data_endpoints_[d], msg);
  }
  local_plan_ = std::move(msg);
  local_dir_ = request_.package_dir;
  changed_locked();
  return summary;
}

bool ModelManager::adopt_deployed_model() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!plan_ || local_plan_) return false;
  auto manifest = parse_manifest(plan_->manifest_json);
  if (!manifest) return false;
  manifest_text_ = plan_->manifest_json;
  model_name_ = manifest->name;
  request_ = LoadRequest{};
  request_.wire = plan_->wire;
  local_plan_ = *plan_;
  local_dir_.clear();
  served_files_.clear();  // the store serves what it holds (serve_chunk)
  data_endpoints_.clear();
  progress_.clear();
  spans_.clear();
  replans_ = nlohmann::json::array();
  plan_json_ = nlohmann::json{{"version", plan_->plan_version},
                              {"term", plan_->term},
                              {"model", model_name_},
                              {"wire", plan_->wire},
                              {"adopted", true}};
  if (!monitor_.joinable() && options_.rebalance.enabled) monitor_ = std::thread([this] { monitor(); });
  LL_INFO("took over " << model_name_ << " (plan " << plan_->plan_version << ") from the previous leader");
  return true;
}

void ModelManager::set_leader(bool leader) { leader_ = leader; }

void ModelManager::set_plan_error(std::string error) {
  std::lock_guard<std::mutex> lock(mutex_);
  plan_error_ = std::move(error);
  changed_locked();
}

bool ModelManager::has_model() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return !manifest_text_.empty() && local_plan_.has_value();
}

std::vector<std::string> ModelManager::plan_devices() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  if (local_plan_) {
    for (const auto& s : local_plan_->stages) out.push_back(s.device);
  }
  return out;
}

Result<nlohmann::json> ModelManager::replan(ClusterView cluster) {
  LoadRequest request;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    request = request_;
  }
  request.dry_run = false;
  return load(request, std::move(cluster));
}

void ModelManager::observe(uint64_t plan_version, const std::vector<proto::StageStat>& stats) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!local_plan_ || plan_version != local_plan_->plan_version) return;  // timings of another plan
  for (const auto& s : stats) detector_.observe(static_cast<int>(s.stage), s.compute_ms);
}

bool ModelManager::all_ready_locked() const {
  for (const auto& [name, p] : progress_) {
    if (p.last.state != "ready") return false;
  }
  return !progress_.empty();
}

void ModelManager::monitor() {
  while (!stopping_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!leader_) continue;  // a deposed leader must not re-plan (fenced: its plans would carry an old term)
    placement::PlacementProblem problem;
    std::vector<placement::StageSpan> spans;
    std::vector<double> slowdown;
    placement::SolveOptions solve;
    uint64_t version = 0;
    nlohmann::json entry;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!all_ready_locked()) continue;
      auto observed = detector_.slowdown(Clock::now());
      if (!observed) continue;
      problem = problem_;
      spans = spans_;
      slowdown = std::move(*observed);
      solve.objective = request_.objective;
      version = plan_ ? plan_->plan_version : 0;
      entry = {
          {"from_version", version},
          {"at_unix_s", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
          {"observed_ms", detector_.observed_ms()},
          {"baseline_ms", detector_.baseline_ms()},
          {"head_tokens_generated", stage_.stats().tokens_generated}};
    }
    // The solver (GLPK's time limit, then the DP) runs with no lock held: tokens, heartbeats and plan messages go
    // on meanwhile. Its answer is used only if the plan it started from is still the one in force.
    auto decision = decide_replan(std::move(problem), spans, slowdown, solve, options_.rebalance);
    std::unique_lock<std::mutex> lock(mutex_);
    if (!leader_ || (plan_ ? plan_->plan_version : 0) != version) continue;  // re-planned or deposed meanwhile
    if (!decision) {
      entry["reason"] = "re-plan failed: " + decision.error();
      replans_.push_back(entry);
      changed_locked();
      detector_.reset(static_cast<int>(spans_.size()), Clock::now());
      continue;
    }
    entry["reason"] = decision->reason;
    entry["applied"] = decision->apply;
    entry["predicted_current_s_per_token"] = decision->current_s;
    entry["predicted_new_s_per_token"] = decision->proposed_s;
    LL_INFO("load balancing: " << decision->reason);
    if (!decision->apply) {  // remember the observed speeds; watch again from here
      problem_ = decision->problem;
      detector_.reset(static_cast<int>(spans_.size()), Clock::now());
      replans_.push_back(entry);
      changed_locked();
      continue;
    }
    const uint64_t term = plan_ ? plan_->term : 0;
    auto summary = announce(decision->problem, decision->plan, term);
    if (summary) entry["to_version"] = (*summary)["version"];
    replans_.push_back(entry);
    changed_locked();
    proto::PlanMsg plan = *local_plan_;
    const std::string dir = local_dir_;
    lock.unlock();
    apply_plan(std::move(plan), dir);
  }
}

std::optional<proto::DataMessage> ModelManager::on_message(const std::string&, proto::DataMessage&& message) {
  if (auto* plan = std::get_if<proto::PlanMsg>(&message)) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (plan_ && plan->plan_version <= plan_->plan_version) return std::nullopt;  // stale or repeated
      if (local_plan_ && plan->plan_version > local_plan_->plan_version) {
        // Another leader planned since: this device no longer owns the deployment.
        local_plan_.reset();
        manifest_text_.clear();
        progress_.clear();
        spans_.clear();
      }
    }
    apply_plan(std::move(*plan), "");
    return std::nullopt;
  }
  if (auto* fetch = std::get_if<proto::FetchMsg>(&message)) return serve_chunk(*fetch);
  if (auto* progress = std::get_if<proto::LoadProgressMsg>(&message)) {
    report(*progress);
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<proto::DataMessage> ModelManager::serve_chunk(const proto::FetchMsg& fetch) {
  std::string path;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = served_files_.find(fetch.sha256);
    if (it != served_files_.end()) {
      path = it->second;
    } else if (plan_files_.count(fetch.sha256) && store_.has(fetch.sha256)) {
      path = store_.path(fetch.sha256);  // any device serves the files of the plan it holds (failover, peers)
    } else {
      return proto::DataMessage{proto::DataErrorMsg{"bad_request", "no announced file has that hash"}};
    }
  }
  const uint64_t total = file_size(path);
  if (fetch.offset > total) return proto::DataMessage{proto::DataErrorMsg{"bad_request", "offset past the end"}};
  const uint64_t length = std::min<uint64_t>(fetch.length, total - fetch.offset);
  proto::ChunkMsg chunk;
  chunk.sha256 = fetch.sha256;
  chunk.offset = fetch.offset;
  chunk.total = total;
  chunk.bytes.dtype = proto::DType::kU8;
  chunk.bytes.shape = {length};
  chunk.bytes.data.resize(length);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const ssize_t n = fd >= 0 ? ::pread(fd, chunk.bytes.data.data(), length, static_cast<off_t>(fetch.offset)) : -1;
  if (fd >= 0) ::close(fd);
  if (n != static_cast<ssize_t>(length)) return proto::DataMessage{proto::DataErrorMsg{"internal", "read failed"}};
  return proto::DataMessage{std::move(chunk)};
}

void ModelManager::report(const proto::LoadProgressMsg& progress) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = progress_.find(progress.device);
  if (it == progress_.end() || progress.plan_version != it->second.last.plan_version) return;
  it->second.last = progress;
  changed_locked();
  it->second.updated = Clock::now();
  if (progress.state == "failed") LL_WARN("device " << progress.device << " failed to load: " << progress.error);
  if (progress.state == "ready") LL_INFO("device " << progress.device << " ready");
}

void ModelManager::stop_worker() {
  {
    std::lock_guard<std::mutex> lock(loader_mutex_);
    loader_stopping_ = true;
    cancel_ = true;
  }
  loader_wake_.notify_all();
  if (loader_.joinable()) loader_.join();
}

// The loader thread alone runs plans, the latest first: a plan that arrives while another loads cancels it (the
// fetches stop at once; a shard load in progress finishes) and is picked up next. Callers never wait for a load.
void ModelManager::loader() {
  std::unique_lock<std::mutex> lock(loader_mutex_);
  while (true) {
    loader_wake_.wait(lock, [this] { return loader_stopping_ || pending_.has_value(); });
    if (loader_stopping_) return;
    PendingPlan next = std::move(*pending_);
    pending_.reset();
    cancel_ = false;  // under loader_mutex_: a plan queued from now on cancels this one
    lock.unlock();
    run_plan(next.plan, next.local_dir);
    lock.lock();
  }
}

void ModelManager::apply_plan(proto::PlanMsg plan, std::string local_package_dir) {
  std::set<std::string> files;
  if (auto manifest = parse_manifest(plan.manifest_json)) {
    for (const auto& s : manifest->shards) files.insert(s.sha256);
    files.insert(manifest->tokenizer.sha256);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Two threads may apply plans at once (the node, the monitor, the data plane): the newer one wins.
    if (plan_ && plan.plan_version < plan_->plan_version) return;
    plan_ = plan;
    plan_files_ = std::move(files);
    local_state_ = "fetching";
    changed_locked();
  }
  {
    std::lock_guard<std::mutex> lock(loader_mutex_);
    if (loader_stopping_) return;
    if (pending_ && pending_->plan.plan_version > plan.plan_version) return;
    pending_ = PendingPlan{std::move(plan), std::move(local_package_dir)};
    cancel_ = true;  // whatever runs now is superseded
    if (!loader_.joinable()) loader_ = std::thread([this] { loader(); });
  }
  loader_wake_.notify_all();
}

void ModelManager::run_plan(const proto::PlanMsg& plan, const std::string& local_dir) {
  proto::LoadProgressMsg progress;
  progress.plan_version = plan.plan_version;
  progress.device = options_.name;
  bool leader_here = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    leader_here = plan.leader_data_endpoint == (advertised_.empty() ? stage_.endpoint() : advertised_);
  }
  ShardFetcher fetcher(context_, plan.leader_data_endpoint, store_, FetchOptions{});
  auto send_progress = [&](const std::string& state) {
    progress.state = state;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      local_state_ = state;
      changed_locked();
    }
    if (leader_here)
      report(progress);
    else
      fetcher.send(progress);
  };
  auto fail = [&](const std::string& error) {
    progress.error = error;
    LL_ERROR("plan " << plan.plan_version << ": " << error);
    send_progress("failed");
  };

  auto manifest = parse_manifest(plan.manifest_json);
  if (!manifest) return fail("manifest: " + manifest.error());
  int index = -1;
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    if (plan.stages[i].device == options_.name) index = static_cast<int>(i);
  }
  if (index < 0) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      loaded_range_.reset();  // its memory goes once the stage drops it
    }
    send_progress("idle");
    return keep_standby_copies(plan, *manifest);
  }
  const proto::PlanStage& mine = plan.stages[index];
  const int n = static_cast<int>(manifest->shards.size());
  if (mine.last_shard >= n) return fail("plan names shards beyond the manifest");

  // The files this stage needs: its shards, its backups, and the tokenizer on the head.
  struct File {
    std::string sha;
    uint64_t size;
    std::string name;
  };
  // What the stage runs comes first; copies kept for failover are fetched after the stage is ready.
  std::vector<File> files, copies;
  for (int64_t i = mine.first_shard; i <= mine.last_shard; ++i)
    files.push_back({manifest->shards[i].sha256, manifest->shards[i].file_bytes, manifest->shards[i].file});
  for (int64_t b : std::set<int64_t>(mine.backup_shards.begin(), mine.backup_shards.end())) {
    if (b >= 0 && b < n && (b < mine.first_shard || b > mine.last_shard))
      copies.push_back({manifest->shards[b].sha256, manifest->shards[b].file_bytes, manifest->shards[b].file});
  }
  // Every stage keeps the tokenizer (small): whichever device survives may have to become the head.
  files.push_back({manifest->tokenizer.sha256, 0, manifest->tokenizer.file});

  auto path_of_file = [&](const File& f) { return local_dir.empty() ? store_.path(f.sha) : local_dir + "/" + f.name; };
  const auto started = Clock::now();
  for (const File& f : files) progress.bytes_total += f.size;
  auto last_report = Clock::now();
  send_progress("fetching");
  auto fetch_file = [&](const File& f, const std::function<void(uint64_t)>& on_bytes, ShardFetcher& first, int window) {
    Status fetched = first.fetch(f.sha, f.size, on_bytes, cancel_);
    // The leader may not hold it (it took over from a lost one): the other stages serve what their stores hold.
    for (const auto& peer : plan.stages) {
      if (fetched.ok() || cancel_) break;
      if (peer.device == options_.name || peer.data_endpoint == plan.leader_data_endpoint) continue;
      FetchOptions quick;
      quick.stall_timeout = std::chrono::milliseconds(5000);
      quick.window = window;
      ShardFetcher from_peer(context_, peer.data_endpoint, store_, quick);
      fetched = from_peer.fetch(f.sha, f.size, on_bytes, cancel_);
    }
    return fetched;
  };
  for (const File& f : files) {
    if (!local_dir.empty() || store_.has(f.sha)) {
      progress.bytes_from_cache += f.size;
      progress.bytes_done += f.size;
      continue;
    }
    Status fetched = fetch_file(
        f,
        [&](uint64_t bytes) {
          if (f.size == 0) progress.bytes_total += bytes;  // size learned as it arrives (the tokenizer)
          progress.bytes_done += bytes;
          if (Clock::now() - last_report > std::chrono::milliseconds(250)) {
            send_progress("fetching");
            last_report = Clock::now();
          }
        },
        fetcher, FetchOptions{}.window);
    if (!fetched.ok()) return fail(f.name + ": " + fetched.error());
  }
  if (cancel_) return;
  const auto fetched_at = Clock::now();
  send_progress("loading");
  const Manifest& m = *manifest;
  std::shared_ptr<ShardRange> previous;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    previous = loaded_range_;
  }
  auto range = load_shard_range(
      m, static_cast<int>(mine.first_shard), static_cast<int>(mine.last_shard),
      [&](const ShardInfo& s) {
        return path_of_file(File{s.sha256, s.file_bytes, s.file});
      },
      options_.runtime, previous.get());
  previous.reset();
  if (!range) return fail(range.error());
  LL_INFO("plan " << plan.plan_version << ": shards " << mine.first_shard << ".." << mine.last_shard << ": fetched "
                  << (progress.bytes_done - progress.bytes_from_cache) / 1e6 << " MB in "
                  << std::chrono::duration<double>(fetched_at - started).count() << " s, loaded in "
                  << std::chrono::duration<double>(Clock::now() - fetched_at).count() << " s");
  auto config = std::make_shared<pipeline::StageConfig>();
  config->plan_version = plan.plan_version;
  config->stage_index = index;
  for (const auto& s : plan.stages) config->stage_endpoints.push_back(s.data_endpoint);
  config->shards = std::shared_ptr<ShardRange>(std::move(range).value());
  {
    std::lock_guard<std::mutex> lock(mutex_);
    loaded_range_ = config->shards;  // the next plan reuses what it can of it
  }
  config->manifest = std::make_shared<Manifest>(m);
  config->wire = plan.wire == "float16" ? proto::DType::kF16 : proto::DType::kF32;
  if (index == 0) {
    const File tok{m.tokenizer.sha256, 0, m.tokenizer.file};
    const std::string path = path_of_file(tok);
    if (Status ok = verify_file(path, file_size(path), m.tokenizer.sha256); !ok.ok()) return fail(ok.error());
    auto tokenizer = load_tokenizer_file(m, path);
    if (!tokenizer) return fail(tokenizer.error());
    config->tokenizer = std::make_shared<Tokenizer>(std::move(tokenizer).value());
  }
  if (cancel_) return;
  if (leader_here && plan.stages.size() > 1) {
    // The head switches last, once every other stage runs the new plan, so that the sessions it replays find
    // the whole ring ready.
    send_progress("waiting");
    while (!cancel_) {
      bool all_ready = true;
      std::string failed;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& [name, p] : progress_) {
          if (name == options_.name) continue;
          if (p.last.state == "failed") failed = name + ": " + p.last.error;
          all_ready = all_ready && p.last.state == "ready";
        }
      }
      if (!failed.empty()) return fail("device " + failed);
      if (all_ready) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (cancel_) return;
  }
  stage_.configure(config);
  send_progress("ready");
  if (!local_dir.empty()) return;  // the leader's package folder holds every file
  // Failover copies share the links with activations: one file at a time, one chunk in flight, so an activation
  // waits behind at most one chunk per fetching device.
  FetchOptions gentle;
  gentle.window = 1;
  ShardFetcher background(context_, plan.leader_data_endpoint, store_, gentle);
  for (const File& f : copies) {
    if (store_.has(f.sha)) continue;
    if (cancel_) return;
    if (Status fetched = fetch_file(
            f, [](uint64_t) {}, background, 1);
        !fetched.ok()) {
      LL_WARN("plan " << plan.plan_version << ": no failover copy of " << f.name << ": " << fetched.error());
    }
  }
}

void ModelManager::keep_standby_copies(const proto::PlanMsg& plan, const Manifest& manifest) {
  std::vector<int64_t> shards;
  for (const auto& standby : plan.standby) {
    if (standby.device == options_.name) shards = standby.backup_shards;
  }
  if (shards.empty()) return;
  // Gently, like a stage's failover copies: one file at a time, one chunk in flight.
  FetchOptions gentle;
  gentle.window = 1;
  uint64_t fetched = 0, kept = 0;
  std::vector<std::pair<std::string, uint64_t>> files;  // sha256, size; the tokenizer too, as every stage keeps it
  for (int64_t i : std::set<int64_t>(shards.begin(), shards.end())) {
    if (i < 0 || i >= static_cast<int64_t>(manifest.shards.size())) continue;
    files.emplace_back(manifest.shards[static_cast<size_t>(i)].sha256,
                       manifest.shards[static_cast<size_t>(i)].file_bytes);
    ++kept;
  }
  files.emplace_back(manifest.tokenizer.sha256, 0);
  for (const auto& [sha, size] : files) {
    if (store_.has(sha)) continue;
    Status ok = make_error("no device holds it");
    for (const auto& source : plan.stages) {  // the leader first, then the stages that hold the plan's files
      if (cancel_) return;
      const std::string& endpoint = &source == &plan.stages.front() ? plan.leader_data_endpoint : source.data_endpoint;
      ShardFetcher fetcher(context_, endpoint, store_, gentle);
      ok = fetcher.fetch(
          sha, size, [&](uint64_t bytes) { fetched += bytes; }, cancel_);
      if (ok.ok()) break;
    }
    if (!ok.ok()) LL_WARN("plan " << plan.plan_version << ": no standby copy of " << sha << ": " << ok.error());
  }
  LL_INFO("plan " << plan.plan_version << ": standby: keeps " << kept << " shard copies on disk (fetched "
                  << fetched / 1e6 << " MB)");
}

void ModelManager::changed_locked() {
  ++changes_;
  status_changed_.notify_all();
}

bool ModelManager::wait_for_status(const std::function<bool(const nlohmann::json&)>& ready,
                                   std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    uint64_t seen = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      seen = changes_;
    }
    if (ready(status_json())) return true;
    std::unique_lock<std::mutex> lock(mutex_);
    if (!status_changed_.wait_until(lock, deadline, [&] { return changes_ != seen; })) return false;
  }
}

nlohmann::json ModelManager::status_json() const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json out = plan_json_.is_null() ? nlohmann::json::object() : plan_json_;
  out["local_state"] = local_state_;
  if (!plan_error_.empty()) out["error"] = plan_error_;
  out["replans"] = replans_;
  if (!spans_.empty()) {
    out["observed_stage_ms"] = detector_.observed_ms();
    out["baseline_stage_ms"] = detector_.baseline_ms();
  }
  if (plan_) {
    out["version"] = plan_->plan_version;
    out["head_data_endpoint"] = plan_->stages[0].data_endpoint;
    if (!out.contains("stages")) {
      nlohmann::json stages = nlohmann::json::array();
      for (const auto& s : plan_->stages) {
        stages.push_back({{"device", s.device}, {"first_shard", s.first_shard}, {"last_shard", s.last_shard}});
      }
      out["stages"] = stages;
    }
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

std::string ModelManager::head_data_endpoint() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_ ? plan_->stages[0].data_endpoint : "";
}

uint64_t ModelManager::plan_version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_ ? plan_->plan_version : 0;
}

std::string ModelManager::local_state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return local_state_;
}

}  // namespace ll::deploy
