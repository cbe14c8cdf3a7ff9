// SimCluster: N nodes over the in-process transport on simulated time, for election and membership tests.
// Single-threaded: step() advances the clock and polls every running node once.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/node.h"
#include "common/log.h"
#include "net/inproc_transport.h"

namespace ll::test {

class SimCluster {
 public:
  explicit SimCluster(int n, uint64_t seed = 1, bool all_seeds = true) : hub_(clock_, seed) {
    set_log_level(LogLevel::kError);
    for (int i = 0; i < n; ++i) names_.push_back("n" + std::to_string(i));
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> seeds;
      for (int j = 0; j < n; ++j) {
        if (j != i && (all_seeds || j == 0)) seeds.push_back(endpoint(j));
      }
      seeds_.push_back(seeds);
      seed_ = seed;
      start(i);
    }
  }

  static std::string endpoint(int i) { return "inproc://n" + std::to_string(i); }

  // (Re)starts node i with fresh in-memory state (a restart without a data directory keeps nothing but data_dir).
  void start(int i, const std::string& data_dir = "") {
    nodes_.erase(i);
    transports_.erase(i);
    transports_[i] = std::make_unique<net::InprocTransport>(hub_, endpoint(i));
    cluster::NodeConfig c;
    c.name = names_[i];
    c.seeds = seeds_[i];
    c.random_seed = seed_ * 1000 + static_cast<uint64_t>(i) + 1 + restarts_++ * 7919;
    c.data_dir = data_dir;
    nodes_[i] = std::make_unique<cluster::Node>(c, *transports_[i], clock_);
    (void)nodes_[i]->start();
    hub_.set_down(endpoint(i), false);
  }

  // A crash: the node stops running and its address is unreachable.
  void kill(int i) {
    hub_.set_down(endpoint(i), true);
    nodes_.erase(i);
    transports_.erase(i);
  }
  // A killed process whose host lives on: its port refuses connections, so its peers learn at once.
  void kill_process(int i) {
    hub_.kill_process(endpoint(i));
    nodes_.erase(i);
    transports_.erase(i);
  }
  // A freeze (the node keeps its state but neither runs nor talks), e.g. a long GC pause or a suspended laptop.
  void freeze(int i) {
    frozen_.insert(i);
    hub_.set_down(endpoint(i), true);
  }
  void thaw(int i) {
    frozen_.erase(i);
    hub_.set_down(endpoint(i), false);
  }

  void step(Duration dt = std::chrono::milliseconds(10)) {
    clock_.advance(dt);
    for (auto& [i, node] : nodes_) {
      if (!frozen_.count(i)) node->poll_once(Duration(0));
    }
    record();
  }
  void run_for(Duration d, Duration dt = std::chrono::milliseconds(10)) {
    for (Duration t{0}; t < d; t += dt) step(dt);
  }

  cluster::Node* node(int i) { return nodes_.count(i) ? nodes_[i].get() : nullptr; }
  bool running(int i) const { return nodes_.count(i) > 0 && !frozen_.count(i); }

  // Indices of running nodes that consider themselves leader.
  std::vector<int> leaders() const {
    std::vector<int> out;
    for (const auto& [i, node] : nodes_) {
      if (!frozen_.count(i) && node->role() == cluster::Role::kLeader) out.push_back(i);
    }
    return out;
  }

  // True if every running node follows the same leader in the same term and that leader is running.
  bool converged() const {
    std::string leader;
    uint64_t term = 0;
    bool first = true;
    for (const auto& [i, node] : nodes_) {
      if (frozen_.count(i)) continue;
      if (node->leader().empty()) return false;
      if (first) {
        leader = node->leader();
        term = node->term();
        first = false;
      } else if (node->leader() != leader || node->term() != term) {
        return false;
      }
    }
    if (first) return false;
    for (const auto& [i, node] : nodes_) {
      if (!frozen_.count(i) && names_[i] == leader) return node->role() == cluster::Role::kLeader;
    }
    return false;
  }

  // Every (term, leader) pair ever observed: the safety property is one leader per term.
  const std::map<uint64_t, std::set<std::string>>& leaders_by_term() const { return history_; }
  bool safe() const {
    for (const auto& [term, who] : history_) {
      if (who.size() > 1) return false;
    }
    return true;
  }

  net::InprocHub& hub() { return hub_; }
  ManualClock& clock() { return clock_; }
  const std::string& name(int i) const { return names_[i]; }
  int size() const { return static_cast<int>(names_.size()); }

 private:
  void record() {
    for (const auto& [i, node] : nodes_) {
      if (node->role() == cluster::Role::kLeader) history_[node->term()].insert(names_[i]);
    }
  }

  ManualClock clock_;
  net::InprocHub hub_;
  uint64_t seed_ = 1;
  uint64_t restarts_ = 0;
  std::vector<std::string> names_;
  std::vector<std::vector<std::string>> seeds_;
  std::map<int, std::unique_ptr<net::InprocTransport>> transports_;
  std::map<int, std::unique_ptr<cluster::Node>> nodes_;
  std::set<int> frozen_;
  std::map<uint64_t, std::set<std::string>> history_;
};

}  // namespace ll::test
