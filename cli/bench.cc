// llctl bench --local: prefill and decode speed of a package in this process, with decode weight-bytes per second
// next to the memory bandwidth measured in the same run (decoding reads every weight once per token).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "cli/commands.h"
#include "common/memory_bandwidth.h"
#include "engine/generator.h"
#include "runtime/local_model.h"

namespace ll::cli {
namespace {

struct BenchFlags {
  bool local = false;
  std::string model;
  int prompt_tokens = 32;
  int tokens = 64;
  int threads = 0;
  int prefill_chunk = kDefaultPrefillChunk;
  bool json = false;
  int replay = 0;  // > 0: also time rebuilding a session of this many generated tokens
};

// Seconds to rebuild a session of `prompt` + `generated` tokens from nothing: the exact replay (the prompt as one
// prefill, every generated token as a decode row, as the first run computed them) and, for comparison, the same
// tokens as one prefill (faster, but not bit-identical to the first run: docs/pipeline.md, "Exact replay").
std::pair<double, double> time_replays(ShardRange& shards, const std::vector<int32_t>& prompt, int generated,
                                       int vocab) {
  StepInput step;
  step.tokens = prompt;
  for (int i = 0; i < generated; ++i) step.tokens.push_back(3 + (i * 104729) % (vocab - 3));
  double seconds[2] = {0, 0};
  for (int exact = 1; exact >= 0; --exact) {
    step.decode_rows = exact ? generated : 0;
    const uint64_t id = 900 + exact;
    if (!shards.open_session(id).ok()) return {0, 0};
    const auto begin = std::chrono::steady_clock::now();
    const bool ok = shards.forward(id, step).ok();
    seconds[exact] = ok ? std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count() : 0;
    shards.close_session(id);
  }
  return {seconds[1], seconds[0]};
}

// Weight bytes read to decode one token: every block and the head in full, one row of the embedding.
uint64_t weight_bytes_per_token(const Manifest& m) {
  uint64_t bytes = 0;
  const uint64_t row = m.weight_dtype == "int8" ? m.hparams.dim + 4ull : m.hparams.dim * 4ull;  // int8: + its scale
  for (const auto& s : m.shards) bytes += s.kind == ShardKind::kEmbed ? row : s.bytes;
  return bytes;
}

// This process's peak resident set (VmHWM: loading, prefill and decode), bytes; 0 when /proc is unavailable.
uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

int run_bench(const BenchFlags& flags) {
  if (!flags.local || flags.model.empty()) {
    std::fprintf(stderr, "llctl bench: use --local --model PKG (cluster benchmarks: scripts/bench)\n");
    return 2;
  }
  auto model = open_local_model(flags.model, RuntimeOptions{flags.threads});
  if (!model) {
    std::fprintf(stderr, "llctl bench: %s\n", model.error().c_str());
    return 1;
  }
  const int context = model->manifest.hparams.context_length;
  const int prompt_len = std::max(1, std::min(flags.prompt_tokens, context / 2));
  const int decode_len = std::max(2, std::min(flags.tokens, context - prompt_len - 1));
  std::vector<int32_t> prompt{model->tokenizer.bos_id()};
  for (int i = 1; i < prompt_len; ++i) prompt.push_back(3 + (i * 7919) % (model->manifest.hparams.vocab_size - 3));
  Generator generator(model->manifest, model->tokenizer, *model->shards);
  GenerateOptions options;
  options.ignore_eos = true;
  options.prefill_chunk = flags.prefill_chunk;
  options.max_tokens = 4;
  auto warmup = generator.generate_tokens(prompt, options, nullptr);
  if (!warmup) {
    std::fprintf(stderr, "llctl bench: %s\n", warmup.error().c_str());
    return 1;
  }
  options.max_tokens = decode_len;
  auto run = generator.generate_tokens(prompt, options, nullptr);
  if (!run) {
    std::fprintf(stderr, "llctl bench: %s\n", run.error().c_str());
    return 1;
  }
  double replay_exact_s = 0, replay_prefill_s = 0;
  const int replay = std::min(flags.replay, context - prompt_len - 1);
  if (replay > 0) {
    std::tie(replay_exact_s, replay_prefill_s) =
        time_replays(*model->shards, prompt, replay, model->manifest.hparams.vocab_size);
  }
  const uint64_t peak_rss = peak_rss_bytes();  // before the bandwidth probe allocates its own buffers
  const MemoryBandwidth bandwidth = measure_memory_bandwidth();
  const double decode_tps = run->decode_tokens_per_s();
  const uint64_t per_token = weight_bytes_per_token(model->manifest);
  const double weight_rate = decode_tps * static_cast<double>(per_token);
  nlohmann::json out = {{"model", model->manifest.name},
                        {"runtime", runtime_description()},
                        {"weight_bytes", model->manifest.total_weight_bytes()},
                        {"weight_dtype", model->manifest.weight_dtype},
                        {"peak_rss_bytes", peak_rss},
                        {"prompt_tokens", prompt_len},
                        {"decode_tokens", decode_len},
                        {"prefill_tokens_per_s", run->prefill_tokens_per_s()},
                        {"decode_tokens_per_s", decode_tps},
                        {"decode_ms_per_token", decode_tps > 0 ? 1000.0 / decode_tps : 0},
                        {"decode_weight_bytes_per_token", per_token},
                        {"decode_weight_bytes_per_s", weight_rate},
                        {"memory_read_bytes_per_s", bandwidth.read_bytes_per_s},
                        {"memory_copy_bytes_per_s", bandwidth.copy_bytes_per_s},
                        {"fraction_of_memory_read_bandwidth", weight_rate / bandwidth.read_bytes_per_s}};
  if (replay > 0) {
    out["replay"] = {{"generated_tokens", replay},
                     {"exact_s", replay_exact_s},
                     {"one_prefill_s", replay_prefill_s},
                     {"exactness_cost", replay_prefill_s > 0 ? replay_exact_s / replay_prefill_s : 0}};
  }
  if (flags.json) {
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  std::printf("model            %s (%.1f MB of weights)\n", model->manifest.name.c_str(),
              model->manifest.total_weight_bytes() / 1e6);
  std::printf("runtime          %s\n", runtime_description().c_str());
  std::printf("weights          %s, peak RSS %.1f MB\n", model->manifest.weight_dtype.c_str(), peak_rss / 1e6);
  std::printf("prefill          %8.1f tokens/s (%d tokens)\n", run->prefill_tokens_per_s(), prompt_len);
  std::printf("decode           %8.1f tokens/s (%.2f ms/token, %d tokens)\n", decode_tps,
              decode_tps > 0 ? 1000.0 / decode_tps : 0.0, decode_len);
  std::printf("decode weights   %8.2f GB/s (%.1f MB read per token)\n", weight_rate / 1e9, per_token / 1e6);
  std::printf("memory read      %8.2f GB/s   copy %.2f GB/s (measured now)\n", bandwidth.read_bytes_per_s / 1e9,
              bandwidth.copy_bytes_per_s / 1e9);
  std::printf("decode / read    %8.2f  (1.0 = memory-bound limit)\n", weight_rate / bandwidth.read_bytes_per_s);
  if (replay > 0) {
    std::printf(
        "replay           %8.2f s to rebuild %d + %d tokens exactly (decode rows); %.2f s as one prefill "
        "(%.1fx)\n",
        replay_exact_s, prompt_len, replay, replay_prefill_s,
        replay_prefill_s > 0 ? replay_exact_s / replay_prefill_s : 0.0);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<BenchFlags>();
  auto* sub = app.add_subcommand("bench", "measure prefill/decode speed against memory bandwidth");
  sub->add_flag("--local", flags->local, "run the whole model in this process");
  sub->add_option("--model", flags->model, "model package folder");
  sub->add_option("--prompt-tokens", flags->prompt_tokens, "prefill length")->check(CLI::Range(1, 1 << 20));
  sub->add_option("--tokens", flags->tokens, "decode steps")->check(CLI::Range(2, 1 << 20));
  sub->add_option("--threads", flags->threads, "compute threads (0 = libtorch default)")->check(CLI::Range(0, 256));
  sub->add_option("--prefill-chunk", flags->prefill_chunk,
                  "tokens per prefill step (0 = one step; default " + std::to_string(kDefaultPrefillChunk) + ")");
  sub->add_flag("--json", flags->json, "print JSON");
  sub->add_option("--replay", flags->replay, "also time rebuilding a session of this many generated tokens")
      ->check(CLI::Range(0, 1 << 20));
  sub->callback([flags, &global] { global.exit_code = run_bench(*flags); });
}

}  // namespace ll::cli
