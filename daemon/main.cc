// lingualinkd: the daemon every device runs. Wires flags and the config file, the ZeroMQ transport, the cluster
// node (membership, heartbeats, election), the profiler thread (memory, libtorch FLOP/s) and the beacon thread.
// SIGTERM/SIGINT: peers are told ('bye'), sockets closed, exit 0. Exceptions stop here.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>

#include "cluster/device_profile.h"
#include "cluster/node.h"
#include "common/data_folder.h"
#include "common/log.h"
#include "common/resident_memory.h"
#include "common/units.h"
#include "daemon/config.h"
#include "daemon/keys.h"
#include "daemon/options.h"
#include "daemon/serving.h"
#include "http/server.h"
#include "net/beacon.h"
#include "net/curve.h"
#include "net/zmq_transport.h"
#include "runtime/blas_kernels.h"
#include "runtime/compute_profile.h"
#include "runtime/drafters.h"
#include "runtime/quantized.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

constexpr const char* kVersion = LL_VERSION;  // the CMake project version

// Measures once at start, then refreshes the free memory every 30 s; posts each result to the node.
class Profiler {
 public:
  Profiler(ll::cluster::Node& node, ll::proto::DeviceProfile base, const ll::daemon::DaemonConfig& config)
      : node_(node), profile_(std::move(base)), config_(config) {}
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  // A client asked for a new profile: measure compute again now. False if compute profiling is off.
  bool request() {
    if (config_.profile_seconds <= 0) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requested_ = true;
    }
    cv_.notify_all();
    return true;
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    release_memory("start-up");
    measure_compute();
    while (true) {
      auto mem = ll::cluster::read_system_memory();
      if (mem.ok()) {
        profile_.memory_free = mem->available;
        profile_.memory_total = mem->total;
      }
      if (auto own = ll::read_process_memory(); own.ok()) {  // shown beside the budget by `llctl devices`
        profile_.rss = own->rss_bytes;
        profile_.peak_rss = own->peak_rss_bytes;
      }
      node_.post_profile(profile_);
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(30), [this] { return stopping_ || requested_; })) continue;
      if (stopping_) return;
      requested_ = false;
      lock.unlock();
      measure_compute();
    }
  }

  void measure_compute() {
    if (config_.profile_seconds > 0) {
      ll::ComputeProfileOptions o;
      o.threads = config_.threads;
      o.seconds_per_shape = config_.profile_seconds;
      auto p = ll::measure_compute(o);
      if (p.ok()) {
        // An emulated slower device reports the speed it emulates, as a real one would measure it.
        profile_.gflops_decode = p->gflops_decode * config_.emulate_speed;
        profile_.gflops_prefill = p->gflops_prefill * config_.emulate_speed;
        profile_.threads = p->threads;
        profile_.profiled = true;
        LL_INFO("compute: " << p->gflops_decode << " GFLOP/s decode-like, " << p->gflops_prefill
                            << " GFLOP/s prefill-like on " << p->threads << " threads (" << p->seconds << " s)");
      } else {
        LL_WARN("compute profile failed: " << p.error());
      }
    }
    release_memory("the compute profile");
  }

  // What start-up (libtorch's ~290 libraries, the profile's matrices) touched once goes back before any shard loads.
  static void release_memory(const char* after) {
    auto released = ll::release_idle_memory();
    auto now = ll::read_process_memory();
    if (!released.ok() || !now.ok()) {
      LL_WARN("memory release after " << after << ": " << (released.ok() ? now.error() : released.error()));
      return;
    }
    LL_INFO("memory after " << after << ": rss " << ll::format_bytes(now->rss_bytes) << " (peak "
                            << ll::format_bytes(now->peak_rss_bytes) << "; "
                            << ll::format_bytes(released->library_bytes) << " of library pages released)");
  }

  ll::cluster::Node& node_;
  ll::proto::DeviceProfile profile_;
  const ll::daemon::DaemonConfig& config_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool requested_ = false;
};

// The endpoint to advertise when listening on a wildcard address: the first up, non-loopback IPv4 address.
std::string advertised_endpoint(const std::string& bound) {
  const std::string wildcard = "tcp://0.0.0.0:";
  if (bound.rfind(wildcard, 0) != 0) return bound;
  const std::string port = bound.substr(wildcard.size());
  ifaddrs* list = nullptr;
  std::string found;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* i = list; i != nullptr && found.empty(); i = i->ifa_next) {
      if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET) continue;
      if (!(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK)) continue;
      char text[INET_ADDRSTRLEN] = {0};
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
      found = text;
    }
    freeifaddrs(list);
  }
  if (found.empty()) return bound;
  LL_INFO("listening on all interfaces; advertising " << found << " (set 'advertise' to choose)");
  return "tcp://" + found + ":" + port;
}

int run(const ll::daemon::DaemonConfig& config, bool default_data_dir, std::shared_ptr<ll::Drafter> draft_model) {
  ll::set_log_level(*ll::parse_log_level(config.log_level));
  ll::set_log_prefix(config.name);

  auto transport = ll::net::ZmqTransport::create(config.listen);
  if (!transport.ok()) {
    LL_ERROR(transport.error());
    return 1;
  }
  ll::proto::DeviceProfile profile;
  profile.version = kVersion;
  profile.threads = config.threads;
  // The quantized engine is chosen once, at start, for every int8 shard this daemon will run.
  if (auto engine = ll::quantized_engine(); engine.ok()) {
    profile.quantized_engine = *engine;
    LL_INFO("int8 shards run on the " << *engine << " quantized engine");
  } else {
    LL_WARN(engine.error() << "; int8 packages cannot run here");
  }
  auto mem = ll::cluster::read_system_memory();
  if (mem.ok()) {
    profile.memory_total = mem->total;
    profile.memory_free = mem->available;
  } else {
    LL_WARN(mem.error());
  }
  profile.memory_budget = config.memory_budget.empty() ? (mem.ok() ? ll::cluster::default_memory_budget(*mem) : 0)
                                                       : *ll::parse_byte_size(config.memory_budget);
  LL_INFO("memory budget " << ll::format_bytes(profile.memory_budget) << " of " << ll::format_bytes(profile.memory_free)
                           << " available");

  // The data plane: its endpoint is published in this device's profile.
  ll::daemon::ServingOptions so;
  so.name = config.name;
  so.data_listen =
      config.data_listen.empty() ? config.listen.substr(0, config.listen.rfind(':')) + ":*" : config.data_listen;
  so.deploy_listen = config.deploy_listen;
  so.data_dir = config.data_dir;
  so.threads = config.threads;
  so.emulate_speed = config.emulate_speed;
  so.prefill_chunk = config.prefill_chunk;
  so.emulate_egress = *ll::pipeline::parse_link_shape(config.emulate_egress);  // validated
  so.rebalance = config.rebalance;
  so.rebalance_cooldown_s = config.rebalance_cooldown_s;
  so.model = config.model;
  so.max_sessions = config.max_sessions;
  so.choose_head = config.choose_head;
  so.speculation.draft_tokens = config.draft_tokens;
  // "draft" names the draft model opened at start: generations then ask for it by its name, draft:<manifest name>.
  so.speculation.mode = config.speculate == "draft" ? draft_model->name() : config.speculate;
  so.draft_model = std::move(draft_model);
  if (so.draft_model) LL_INFO("draft model " << so.draft_model->name() << " from " << config.draft_model);
  auto serving = ll::daemon::Serving::start(so);
  if (!serving.ok()) {
    LL_ERROR(serving.error());
    return 1;
  }
  ll::SteadyClock clock;
  ll::cluster::NodeConfig nc = ll::daemon::node_config(config);
  if (nc.advertise.empty()) nc.advertise = advertised_endpoint((*transport)->endpoint());
  nc.egress_mbps = so.emulate_egress.bandwidth_bytes_per_s / 1e6;
  nc.egress_latency_ms = so.emulate_egress.latency_s * 1e3;
  // Peers dial the data and deploy endpoints too: on a wildcard address, publish them on the advertised host.
  const std::string wildcard = "tcp://0.0.0.0:";
  auto published = [&](const std::string& bound) {
    if (bound.rfind(wildcard, 0) != 0) return bound;
    return nc.advertise.substr(0, nc.advertise.rfind(':') + 1) + bound.substr(wildcard.size());
  };
  profile.data_endpoint = published((*serving)->data_endpoint());
  profile.deploy_endpoint = published((*serving)->deploy_endpoint());
  (*serving)->set_advertised_deploy_endpoint(profile.deploy_endpoint);
  nc.profile = profile;
  if (config.beacon) nc.discovery_grace = std::chrono::milliseconds(2 * config.beacon_interval_ms);
  ll::cluster::Node node(nc, **transport, clock);
  // The HTTP API binds before the node starts: a port in use ends the daemon before it joins the cluster.
  std::unique_ptr<ll::http::HttpServer> http;
  if (!config.http.empty()) {
    ll::http::HttpOptions ho;
    ho.address = *ll::http::parse_http_address(config.http);  // checked by validate()
    ho.token = config.http_token;
    ho.threads = static_cast<int>(config.http_threads);
    ho.max_body_bytes = static_cast<uint64_t>(config.http_max_body_bytes);
    ho.request_timeout = std::chrono::milliseconds(config.http_request_timeout_ms);
    ho.max_client_connections = static_cast<int>(config.http_max_client_connections);
    ho.allowed_hosts = config.http_allowed_hosts;
    ho.allowed_origins = config.http_allowed_origins;
    ho.control_endpoint = node.endpoint();
    auto started = ll::http::HttpServer::start(ho);
    if (!started.ok()) {
      LL_ERROR(started.error());
      return 1;
    }
    http = std::move(started).value();
  }
  Profiler profiler(node, profile, config);
  node.set_refresh_hook([&profiler] { return profiler.request(); });
  if (auto st = node.start(); !st.ok()) {
    LL_ERROR(st.error());
    return 1;
  }
  LL_INFO("lingualinkd " << kVersion << " listening on " << (*transport)->endpoint());
  (*serving)->register_commands(node);
  LL_INFO("data folder " << config.data_dir << (default_data_dir ? " (the default; --data-dir chooses another)" : "")
                         << ": election term and vote, shard cache");

  profiler.start();

  std::unique_ptr<ll::net::Beacon> beacon;
  std::thread beacon_thread;
  if (config.beacon) {
    ll::net::BeaconConfig bc;
    bc.cluster = config.cluster;
    bc.name = config.name;
    bc.endpoint = node.endpoint();
    bc.port = config.beacon_port;
    bc.loopback_only = !ll::net::security().enabled;
    bc.interval = std::chrono::milliseconds(config.beacon_interval_ms);
    beacon = std::make_unique<ll::net::Beacon>(bc);
    if (auto st = beacon->open(); !st.ok()) {
      LL_WARN(st.error() << "; discovery by beacons is off");
      beacon.reset();
    } else {
      beacon_thread = std::thread(
          [&] { beacon->run([&](const ll::net::BeaconInfo& peer) { node.post_discovered(peer.endpoint); }); });
    }
  }

  while (!g_stop) {
    node.poll_once(std::chrono::milliseconds(50));
    (*serving)->tick(node);
    // Heartbeats come from this thread, so they go on even when the compute thread hangs; the per-step deadline is
    // what reveals that. A device stuck on one step leaves (peers hear 'bye' and re-plan without it) and exits for
    // its service manager to restart it: the stuck thread cannot be joined.
    const double step_ms = (*serving)->current_step_ms();
    if (config.step_deadline_s > 0 && step_ms > config.step_deadline_s * 1000) {
      LL_ERROR("the compute thread has been on one step for " << step_ms / 1000 << " s (deadline "
                                                              << config.step_deadline_s
                                                              << " s): leaving the cluster and exiting");
      node.shutdown();
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // linger: let the 'bye' out
      std::fflush(nullptr);
      std::_Exit(3);
    }
  }

  LL_INFO("shutting down");
  if (http) http->stop();  // first: streams in flight end with their sessions cancelled
  node.shutdown();
  if (beacon) {
    beacon->stop();
    beacon_thread.join();
  }
  profiler.stop();
  serving->reset();    // stops the data plane: in-flight sessions end with it
  transport->reset();  // linger lets the 'bye' out
  LL_INFO("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ll::use_native_blas_kernels(argv);     // before anything else: it may run the process again
  ll::configure_allocator_for_daemon();  // before the first large allocation
  ll::daemon::DaemonConfig config;       // the option table's defaults
  CLI::App app{"lingualinkd — the lingualinked daemon: one per device"};
  app.set_version_flag("--version", std::string("lingualinkd ") + kVersion, "print the version and exit");
  ll::daemon::add_flags(app, config);  // every option: daemon/options.cc
  std::string config_file;
  app.add_option("--config", config_file, "JSON config file (see config/lingualinkd.example.json)");
  bool init = false;
  app.add_flag("--init", init,
               "create this device's keys (and a new cluster's, if none) in the keys folder, then exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    // Options given on the command line win over the file.
    if (!config_file.empty()) {
      if (auto st = ll::daemon::apply_config_file(config_file, config, ll::daemon::keys_given_as_flags(app));
          !st.ok()) {
        std::fprintf(stderr, "lingualinkd: %s\n", st.error().c_str());
        return 2;
      }
    }
    if (auto st = ll::daemon::validate(config); !st.ok()) {
      std::fprintf(stderr, "lingualinkd: %s\n", st.error().c_str());
      return 2;
    }
    if (init) {
      if (auto st = ll::daemon::init_keys(config); !st.ok()) {
        std::fprintf(stderr, "lingualinkd: %s\n", st.error().c_str());
        return 1;
      }
      return 0;
    }
    // The draft model opens before the daemon joins anything: a bad package is a bad option.
    std::shared_ptr<ll::Drafter> draft_model;
    if (!config.draft_model.empty()) {
      // One cache per generation in flight on this head: fewer, and sessions evicting each other would each
      // catch up their whole context at every draft.
      auto drafter = ll::open_drafter("draft:" + config.draft_model, ll::RuntimeOptions{config.threads}, nullptr,
                                      std::max(config.max_sessions, ll::kDefaultDraftSessions));
      if (!drafter.ok()) {
        std::fprintf(stderr, "lingualinkd: --draft-model (config key draft_model): %s\n", drafter.error().c_str());
        return 2;
      }
      draft_model = std::move(drafter).value();
    }
    if (auto st = ll::daemon::setup_security(config); !st.ok()) {
      std::fprintf(stderr, "lingualinkd: %s\n", st.error().c_str());
      return 2;
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    // The data folder (election state, shard cache): private to this user, and one daemon's for its whole life.
    const bool default_data_dir = config.data_dir.empty();
    if (default_data_dir) {
      auto folder = ll::default_data_folder(ll::current_data_folder_env(), config.name);
      if (!folder.ok()) {
        std::fprintf(stderr, "lingualinkd: %s\n", folder.error().c_str());
        return 2;
      }
      config.data_dir = *folder;
    }
    if (auto st = ll::prepare_data_folder(config.data_dir, ::geteuid()); !st.ok()) {
      std::fprintf(stderr, "lingualinkd: %s\n", st.error().c_str());
      return 1;
    }
    auto data_lock = ll::DataFolderLock::acquire(config.data_dir);
    if (!data_lock.ok()) {
      std::fprintf(stderr, "lingualinkd: %s\n", data_lock.error().c_str());
      return 1;
    }
    return run(config, default_data_dir, std::move(draft_model));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lingualinkd: %s\n", e.what());
    return 1;
  }
}
