// Synthetic Llama-shaped instances. Stateless; thread-safe.
#include "placement/synthetic.h"

namespace ll::placement {

std::vector<ShardInfo> synthetic_shards(const SyntheticModel& m) {
  std::vector<ShardInfo> shards;
  const double dim = m.dim;
  const double block_params = 2 * dim * dim + 2 * dim * m.kv_dim + 3 * dim * m.hidden_dim + 2 * dim;
  ShardInfo embed;
  embed.id = 0;
  embed.kind = ShardKind::kEmbed;
  embed.bytes = static_cast<uint64_t>(dim * m.vocab * m.weight_bytes);
  embed.flops_per_token = dim;  // a row lookup
  embed.out_bytes_per_token = static_cast<uint64_t>(dim * m.wire_bytes);
  shards.push_back(embed);
  for (int l = 0; l < m.layers; ++l) {
    ShardInfo b;
    b.id = l + 1;
    b.kind = ShardKind::kBlock;
    b.layer = l;
    b.bytes = static_cast<uint64_t>(block_params * m.weight_bytes);
    b.flops_per_token = 2 * block_params;
    b.out_bytes_per_token = static_cast<uint64_t>(dim * m.wire_bytes);
    b.kv_bytes_per_token = static_cast<uint64_t>(2.0 * m.kv_dim * m.weight_bytes);
    shards.push_back(b);
  }
  ShardInfo head;
  head.id = m.layers + 1;
  head.kind = ShardKind::kHead;
  head.bytes = static_cast<uint64_t>((dim * m.vocab + dim) * m.weight_bytes);
  head.flops_per_token = 2 * dim * m.vocab;
  head.out_bytes_per_token = static_cast<uint64_t>(m.vocab) * 4;  // logits, if it were not the last shard
  shards.push_back(head);
  return shards;
}

PlacementProblem synthetic_problem(const SyntheticModel& m, std::vector<Device> devices, double bandwidth,
                                   double latency) {
  PlacementProblem p;
  p.shards = synthetic_shards(m);
  p.context = m.context;
  p.devices = std::move(devices);
  p.head = 0;
  const int nd = p.num_devices();
  p.links.assign(nd, std::vector<Link>(nd));
  for (int a = 0; a < nd; ++a) {
    for (int b = 0; b < nd; ++b) {
      if (a != b) p.set_link(a, b, bandwidth, latency);
    }
  }
  return p;
}

}  // namespace ll::placement
