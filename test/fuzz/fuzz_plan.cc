// libFuzzer target: the plan a device receives on its deploy endpoint, through what the device does before acting
// on it (src/deploy/device_loader.cc, run_plan): decode_data_message, parse_manifest of the manifest it carries,
// then, for each stage as if it were ours, the shard-range check and the selection of the files to fetch. The input
// is the control frame (a plan has no tensor frames). A plan that decodes must hold the limits of docs/pipeline.md
// and docs/protocol.md, and re-encode to a plan that decodes equal; every shard index the device would use must be
// inside the manifest (vector::at throws, which libFuzzer reports).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "model/manifest.h"
#include "proto/data_messages.h"
#include "proto/json_fields.h"
#include "proto/limits.h"

namespace {

using namespace ll::proto;

void require(bool condition) {
  if (!condition) std::abort();
}

bool same_plan(const PlanMsg& a, const PlanMsg& b) {
  if (a.plan_version != b.plan_version || a.term != b.term || a.leader_deploy_endpoint != b.leader_deploy_endpoint ||
      a.manifest_json != b.manifest_json || a.wire != b.wire || a.stages.size() != b.stages.size() ||
      a.standby.size() != b.standby.size())
    return false;
  for (size_t i = 0; i < a.stages.size(); ++i) {
    const PlanStage &x = a.stages[i], &y = b.stages[i];
    if (x.device != y.device || x.data_endpoint != y.data_endpoint || x.deploy_endpoint != y.deploy_endpoint ||
        x.first_shard != y.first_shard || x.last_shard != y.last_shard || x.backup_shards != y.backup_shards)
      return false;
  }
  for (size_t i = 0; i < a.standby.size(); ++i) {
    if (a.standby[i].device != b.standby[i].device || a.standby[i].backup_shards != b.standby[i].backup_shards)
      return false;
  }
  return true;
}

// What run_plan does with the stage named `mine`, up to the first fetch: the files (shard hashes) it would ask for.
size_t files_to_fetch(const ll::Manifest& manifest, const PlanStage& mine) {
  const int64_t n = static_cast<int64_t>(manifest.shards.size());
  if (mine.last_shard >= n) return 0;  // "plan names shards beyond the manifest": refused
  std::set<std::string> files;
  for (int64_t i = mine.first_shard; i <= mine.last_shard; ++i) files.insert(manifest.shards.at(i).sha256);
  for (int64_t b : std::set<int64_t>(mine.backup_shards.begin(), mine.backup_shards.end())) {
    if (b >= 0 && b < n && (b < mine.first_shard || b > mine.last_shard)) files.insert(manifest.shards.at(b).sha256);
  }
  files.insert(manifest.tokenizer.sha256);
  return files.size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> frames{std::string(reinterpret_cast<const char*>(data), size)};
  auto decoded = decode_data_message(frames);
  if (!decoded.ok()) {
    require(!decoded.error().empty());
    return 0;
  }
  const auto* plan = std::get_if<PlanMsg>(&*decoded);
  if (plan == nullptr) return 0;  // another data message: fuzz_data_message's business
  require(plan->term <= kMaxTerm);
  require(plan->wire == "float32" || plan->wire == "float16");
  require(!plan->stages.empty() && plan->stages.size() <= kMaxPlanStages && plan->standby.size() <= kMaxPlanStages);
  require(valid_endpoint(plan->leader_deploy_endpoint));
  for (const auto& st : plan->stages) {
    require(valid_name(st.device) && valid_endpoint(st.data_endpoint) && valid_endpoint(st.deploy_endpoint));
    require(0 <= st.first_shard && st.first_shard <= st.last_shard && st.last_shard <= kMaxShardIndex);
    require(st.backup_shards.size() <= static_cast<size_t>(kMaxShardIndex));
  }
  for (const auto& sb : plan->standby) require(valid_name(sb.device));

  auto encoded = encode_data_message(*plan);
  if (encoded.ok()) {  // may exceed the frame limit once re-serialized (escapes): then there is nothing to compare
    auto again = decode_data_message(*encoded);
    require(again.ok() && std::holds_alternative<PlanMsg>(*again) && same_plan(std::get<PlanMsg>(*again), *plan));
  }

  auto manifest = ll::parse_manifest(plan->manifest_json);
  if (!manifest.ok()) return 0;  // the device reports "manifest: ..." and stops
  for (const auto& st : plan->stages) (void)files_to_fetch(*manifest, st);
  return 0;
}
