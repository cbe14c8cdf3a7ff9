#include "deploy/device_loader.h"

#include <sys/stat.h>

#include <chrono>
#include <set>

#include "common/log.h"
#include "common/resident_memory.h"
#include "common/units.h"
#include "deploy/shard_fetcher.h"
#include "model/package.h"

namespace ll::deploy {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::set<std::string> files_named(const proto::PlanMsg& plan) {
  std::set<std::string> files;
  if (auto manifest = parse_manifest(plan.manifest_json)) {
    for (const auto& s : manifest->shards) files.insert(s.sha256);
    files.insert(manifest->tokenizer.sha256);
  }
  return files;
}

// Loading leaves freed file buffers in malloc and library code touched once (the zip reader, the interpreter's
// set-up): released, so that what stays resident is the weights.
void release_after_load(uint64_t plan_version) {
  auto released = release_idle_memory();
  auto now = read_process_memory();
  if (!released.ok() || !now.ok()) {
    LL_WARN("plan " << plan_version << ": memory release: " << (released.ok() ? now.error() : released.error()));
    return;
  }
  LL_INFO("plan " << plan_version << ": loaded; rss " << format_bytes(now->rss_bytes) << " (peak "
                  << format_bytes(now->peak_rss_bytes) << ")");
}

}  // namespace

DeviceLoader::DeviceLoader(std::string name, RuntimeOptions runtime, pipeline::ShardStore& store,
                           pipeline::StageServer& stage, StatusSignal& signal, LoaderHooks hooks)
    : name_(std::move(name)),
      runtime_(runtime),
      store_(store),
      stage_(stage),
      signal_(signal),
      hooks_(std::move(hooks)) {}

DeviceLoader::~DeviceLoader() {
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    stopping_ = true;
    cancel_ = true;
  }
  wake_.notify_all();
  signal_.notify();
  if (thread_.joinable()) thread_.join();
}

bool DeviceLoader::apply(proto::PlanMsg plan, std::string local_package_dir) {
  std::set<std::string> files = files_named(plan);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Several threads may apply plans at once (the node, the planner, the data plane): the newer one wins.
    if (plan_ && plan.plan_version < plan_->plan_version) return false;
    plan_ = plan;
    plan_files_ = std::move(files);
    state_ = "fetching";
  }
  signal_.notify();
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (stopping_) return false;
    if (queued_ && queued_->plan.plan_version > plan.plan_version) return false;
    queued_ = Queued{std::move(plan), std::move(local_package_dir)};
    cancel_ = true;  // whatever runs now is superseded
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  wake_.notify_all();
  signal_.notify();  // a run waiting for the other stages sees it is cancelled
  return true;
}

std::optional<proto::PlanMsg> DeviceLoader::plan() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_;
}

std::string DeviceLoader::leader_deploy_endpoint(uint64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_ && plan_->plan_version == version ? plan_->leader_deploy_endpoint : std::string();
}

uint64_t DeviceLoader::plan_version() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_ ? plan_->plan_version : 0;
}

bool DeviceLoader::plan_names(const std::string& sha256) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return plan_files_.count(sha256) != 0;
}

std::string DeviceLoader::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

void DeviceLoader::set_state(const std::string& state) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = state;
  }
  signal_.notify();
}

void DeviceLoader::run() {
  std::unique_lock<std::mutex> lock(queue_mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || queued_.has_value(); });
    if (stopping_) return;
    Queued next = std::move(*queued_);
    queued_.reset();
    cancel_ = false;  // under queue_mutex_: a plan queued from now on cancels this one
    lock.unlock();
    run_plan(next.plan, next.local_dir);
    lock.lock();
  }
}

void DeviceLoader::run_plan(const proto::PlanMsg& plan, const std::string& local_dir) {
  proto::LoadProgressMsg progress;
  progress.plan_version = plan.plan_version;
  progress.device = name_;
  const bool leader_here = plan.leader_deploy_endpoint == hooks_.own_endpoint();
  ShardFetcher fetcher(context_, plan.leader_deploy_endpoint, store_, FetchOptions{});
  auto send_progress = [&](const std::string& state) {
    progress.state = state;
    set_state(state);
    if (leader_here)
      hooks_.report_locally(progress);
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
    if (plan.stages[i].device == name_) index = static_cast<int>(i);
  }
  if (index < 0) {
    stage_.leave_ring(plan.plan_version);  // a head's sessions resume at the new head; the old ring's caches go
    loaded_range_.reset();                 // its memory goes once the stage drops it
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
      if (peer.device == name_ || peer.deploy_endpoint == plan.leader_deploy_endpoint) continue;
      FetchOptions quick;
      quick.stall_timeout = std::chrono::milliseconds(5000);
      quick.window = window;
      ShardFetcher from_peer(context_, peer.deploy_endpoint, store_, quick);
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
  // A cached file can rot after it was stored (bit rot; a power loss that kept the rename but not the bytes). The
  // runtime hashes every file before libtorch sees it, so a rotten one fails the load; then, once per plan, each file
  // of this stage is hashed again in the store, every one that no longer matches its name is deleted, and those are
  // fetched again. True when something was (the caller retries once); a second mismatch fails the fetch (finish()
  // verifies what arrives) or the retry.
  bool healed_once = false;
  auto heal = [&]() -> Result<bool> {
    if (!local_dir.empty() || healed_once || cancel_) return false;
    healed_once = true;
    std::vector<File> bad;
    for (const File& f : files) {
      Status intact = store_.verify(f.sha);  // deletes a bad copy
      if (intact.ok()) continue;
      LL_WARN("plan " << plan.plan_version << ": " << f.name << ": " << intact.error() << "; fetching it again");
      bad.push_back(f);
    }
    for (const File& f : bad) {
      Status fetched = fetch_file(
          f, [](uint64_t) {}, fetcher, FetchOptions{}.window);
      if (!fetched.ok()) return make_error(f.name + ": fetched again after a bad cached copy: " + fetched.error());
    }
    return !bad.empty();
  };
  auto load_range = [&] {
    return load_shard_range(
        m, static_cast<int>(mine.first_shard), static_cast<int>(mine.last_shard),
        [&](const ShardInfo& s) {
          return path_of_file(File{s.sha256, s.file_bytes, s.file});
        },
        runtime_, loaded_range_.get());
  };
  auto range = load_range();
  if (!range) {
    auto healed = heal();
    if (!healed) return fail(healed.error());
    if (*healed) range = load_range();
  }
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
  loaded_range_ = config->shards;  // the next plan reuses what it can of it
  release_after_load(plan.plan_version);
  config->manifest = std::make_shared<Manifest>(m);
  config->wire = plan.wire == "float16" ? proto::DType::kF16 : proto::DType::kF32;
  config->max_sessions = static_cast<int>(plan.max_sessions);
  if (index == 0) {
    const File tok{m.tokenizer.sha256, 0, m.tokenizer.file};
    const std::string path = path_of_file(tok);
    Status intact = verify_file(path, file_size(path), m.tokenizer.sha256);
    if (!intact.ok()) {
      auto healed = heal();
      if (!healed) return fail(healed.error());
      if (*healed) intact = verify_file(path, file_size(path), m.tokenizer.sha256);
    }
    if (!intact.ok()) return fail(intact.error());
    auto tokenizer = load_tokenizer_file(m, path);
    if (!tokenizer) return fail(tokenizer.error());
    config->tokenizer = std::make_shared<Tokenizer>(std::move(tokenizer).value());
  }
  if (cancel_) return;
  if (leader_here && plan.stages.size() > 1) {
    // The head switches last, once every other stage runs the new plan, so that the sessions it replays find
    // the whole ring ready.
    send_progress("waiting");
    auto others = hooks_.wait_for_other_stages(plan.plan_version, cancel_);
    if (!others) return fail(others.error());
    if (!*others || cancel_) return;
  }
  stage_.configure(config);
  send_progress("ready");
  if (!local_dir.empty()) return;  // the leader's package folder holds every file
  // Failover copies share the links with activations: one file at a time, one chunk in flight, so an activation
  // waits behind at most one chunk per fetching device.
  FetchOptions gentle;
  gentle.window = 1;
  ShardFetcher background(context_, plan.leader_deploy_endpoint, store_, gentle);
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

void DeviceLoader::keep_standby_copies(const proto::PlanMsg& plan, const Manifest& manifest) {
  std::vector<int64_t> shards;
  for (const auto& standby : plan.standby) {
    if (standby.device == name_) shards = standby.backup_shards;
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
      const std::string& endpoint =
          &source == &plan.stages.front() ? plan.leader_deploy_endpoint : source.deploy_endpoint;
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

}  // namespace ll::deploy
