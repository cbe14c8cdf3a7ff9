// llctl generate: stream a completion. With --local the whole model runs in this process; otherwise the prompt goes
// to a running cluster.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "client/resume.h"
#include "client/trace_timeline.h"
#include "engine/generator.h"
#include "runtime/drafters.h"
#include "runtime/local_model.h"

namespace ll::cli {
namespace {

struct GenerateFlags {
  bool local = false;
  std::string model;
  std::string prompt;
  int max_tokens = 256;
  float temperature = 0.0f;
  int top_k = 0;
  float top_p = 1.0f;
  uint64_t seed = 0;
  int threads = 0;
  int prefill_chunk = kDefaultPrefillChunk;
  bool json = false;
  bool ignore_eos = false;
  double stall_timeout_s = 10;   // no message from the head for this long: it is lost
  double resume_timeout_s = 60;  // how long to look for a new head before giving up (0: never resume)
  std::string trace;             // write a per-step trace here (Chrome trace events)
  std::string speculate;         // "" = the head's default (a cluster) or kDefaultSpeculateMode (--local)
  int draft_tokens = -1;         // -1 = the default
};

// The speculation figures of a generation, for --json: how many drafted tokens stood and tokens per decode step.
nlohmann::json speculation_json(const std::string& mode, int64_t drafted, int64_t accepted, int64_t decode_steps,
                                size_t tokens) {
  return {{"mode", mode.empty() ? "off" : mode},
          {"drafted", drafted},
          {"accepted", accepted},
          {"decode_steps", decode_steps},
          {"acceptance_rate", drafted > 0 ? static_cast<double>(accepted) / drafted : 0.0},
          {"tokens_per_step", decode_steps > 0 ? static_cast<double>(tokens) / decode_steps : 0.0}};
}

// The trace file, opened before generating so that a path that cannot be written fails at once.
struct TraceFile {
  std::string path;
  std::FILE* file = nullptr;
  std::vector<client::TracedStep> steps;
  ~TraceFile() {
    if (file) std::fclose(file);
  }
};

// Device names by ring index, for the trace's process names; empty when the cluster does not say.
std::vector<std::string> stage_devices(const std::string& endpoints) {
  const auto control = client::ControlClient::from_list(endpoints, "llctl");
  auto plan = control.get_plan();
  if (plan && plan->model.empty()) {  // a follower knows its own stage: the leader has the plan's list
    auto leader = control.leader_endpoint();
    if (leader) plan = client::ControlClient({*leader}, "llctl").get_plan();
  }
  std::vector<std::string> names;
  if (plan) {
    for (const auto& stage : plan->stages) names.push_back(stage.device);
  }
  return names;
}

// Writes the trace and prints its one-line summary; false (after saying why) when the file cannot be written.
bool finish_trace(TraceFile& trace, const std::string& endpoints) {
  if (trace.steps.empty()) {
    std::fprintf(stderr, "llctl generate: the head sent no per-step figures (a daemon older than --trace?)\n");
  }
  const std::string json = client::chrome_trace_json(trace.steps, stage_devices(endpoints));
  const bool written = std::fwrite(json.data(), 1, json.size(), trace.file) == json.size();
  const bool closed = std::fclose(trace.file) == 0;
  trace.file = nullptr;
  if (!written || !closed) {
    std::fprintf(stderr, "llctl generate: cannot write the trace to %s: %s\n", trace.path.c_str(),
                 std::strerror(errno));
    return false;
  }
  if (!trace.steps.empty()) {
    std::fprintf(stderr, "llctl: %s; written to %s\n",
                 client::trace_summary_line(client::summarize_trace(trace.steps)).c_str(), trace.path.c_str());
  }
  return true;
}

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

void print_json(const std::string& model, const proto::DoneMsg& done, double longest_pause_s) {
  const auto& prompt_tokens = done.prompt_tokens;
  const auto& tokens = done.tokens;
  const double prefill_s = done.prefill_s;
  const double decode_s = done.decode_s;
  const double decode_tps = decode_s > 0 && tokens.size() > 1 ? (tokens.size() - 1) / decode_s : 0;
  nlohmann::json out = {{"model", model},
                        {"prompt_tokens", prompt_tokens},
                        {"tokens", tokens},
                        {"text", done.text},
                        {"stop_reason", done.stop_reason},
                        {"stages", done.stages},
                        {"speculation", speculation_json(done.speculate, done.drafted, done.accepted, done.decode_steps,
                                                         done.tokens.size())},
                        {"timings",
                         {{"prefill_s", prefill_s},
                          {"prefill_tokens_per_s", prefill_s > 0 ? prompt_tokens.size() / prefill_s : 0},
                          {"decode_s", decode_s},
                          {"longest_pause_s", longest_pause_s},
                          {"decode_tokens_per_s", decode_tps}}}};
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

// On a cluster: any daemon tells where the head stage listens; the stream comes from there. If the head is lost
// mid-generation (killed, or the device the client talked to), the resume loop (src/client/resume.h) asks the
// endpoints in turn — the dead one last — for the new plan and resumes on the new head with the tokens it already
// has: per-position seeded sampling makes the rest exactly what the lost head would have produced.
int run_cluster(const GenerateFlags& flags, const GlobalOptions& global) {
  using Clock = std::chrono::steady_clock;
  proto::GenerateMsg request;
  request.prompt = flags.prompt;
  request.max_tokens = flags.max_tokens;
  request.sampling = proto::SamplingWire{flags.temperature, flags.top_k, flags.top_p, flags.seed};
  request.ignore_eos = flags.ignore_eos;
  request.speculate = flags.speculate;
  request.draft_tokens = flags.draft_tokens;
  TraceFile trace;
  if (!flags.trace.empty()) {
    trace.path = flags.trace;
    trace.file = std::fopen(flags.trace.c_str(), "w");
    if (!trace.file) {
      std::fprintf(stderr, "llctl generate: cannot write the trace to %s: %s\n", flags.trace.c_str(),
                   std::strerror(errno));
      return 1;
    }
    request.trace = true;
  }
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);

  client::ClusterHeadLocator locator(client::ControlClient::from_list(global.endpoint, "llctl"));
  auto head = locator.locate();
  if (!head) {
    std::fprintf(stderr, "llctl generate: %s\n", head.error().message.c_str());
    return 1;
  }
  if (head->endpoint.empty()) {
    std::fprintf(stderr,
                 "llctl generate: no model is loaded on the cluster (llctl load PKG, or --local --model PKG)\n");
    return 1;
  }
  const std::string model = head->model.empty() ? "?" : head->model;
  client::ZmqHeadConnector connector(client::HeadStreamOptions{std::chrono::milliseconds(3000), &g_interrupted});
  client::ResumeOptions options;
  options.stall_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.stall_timeout_s * 1000));
  options.resume_timeout = std::chrono::milliseconds(static_cast<int64_t>(flags.resume_timeout_s * 1000));
  options.open_timeout = options.stall_timeout;
  options.stop = &g_interrupted;
  client::ResumeEvents events;
  bool announce_resume = false;
  std::string lost_head;
  Clock::time_point lost_at;
  events.on_lost = [&](const client::HeadRef& head, const client::ClientError& why, size_t tokens) {
    lost_head = head.endpoint;
    lost_at = Clock::now();
    std::fprintf(stderr, "\nllctl: %s; resuming (%zu tokens so far)\n", why.message.c_str(), tokens);
  };
  events.on_resumed = [&announce_resume](const client::HeadRef&, Duration, size_t) { announce_resume = true; };
  client::ResumingStream stream(locator, connector, request, options, events);
  auto started = stream.open(*head);
  if (!started) {
    std::fprintf(stderr, "llctl generate: %s\n", started.error().message.c_str());
    return 1;
  }
  Clock::time_point last_piece;
  double longest_pause_s = 0;
  while (true) {
    client::HeadEvent event = stream.next();
    if (auto* error = std::get_if<client::ClientError>(&event)) {
      std::fprintf(stderr, "\nllctl generate: %s\n", error->message.c_str());
      return 1;
    }
    if (auto* t = std::get_if<proto::TokensMsg>(&event)) {
      // The longest silence between two pieces: how long a re-plan or a failover held the stream up.
      const auto now = Clock::now();
      if (last_piece != Clock::time_point{}) {
        longest_pause_s = std::max(longest_pause_s, std::chrono::duration<double>(now - last_piece).count());
      }
      if (announce_resume && !t->tokens.empty()) {
        announce_resume = false;
        std::fprintf(stderr, "\nllctl: resumed on %s %.2f s after losing %s (%zu tokens kept)\n",
                     stream.head().endpoint.c_str(), std::chrono::duration<double>(now - lost_at).count(),
                     lost_head.c_str(), stream.request().resume_tokens.size() - t->tokens.size());
      }
      last_piece = now;
      if (t->trace && t->tokens.size() == 1) {
        trace.steps.push_back(
            client::TracedStep{static_cast<int64_t>(trace.steps.size()), t->tokens.front(), std::move(*t->trace)});
      }
      if (!flags.json) {
        std::fwrite(t->text.data(), 1, t->text.size(), stdout);
        std::fflush(stdout);
      }
      continue;
    }
    const auto& done = std::get<proto::DoneMsg>(event);
    if (flags.json) {
      print_json(model, done, longest_pause_s);
    } else {
      std::printf("\n");
    }
    std::fflush(stdout);
    if (trace.file && !finish_trace(trace, global.endpoint)) return 1;
    return done.stop_reason == "cancelled" && g_interrupted ? 130 : 0;
  }
}

int run_local(const GenerateFlags& flags) {
  if (!flags.trace.empty()) {
    std::fprintf(stderr, "llctl generate: --trace traces a cluster's ring; it does not apply to --local\n");
    return 2;
  }
  if (flags.model.empty()) {
    std::fprintf(stderr, "llctl generate: --local needs --model PKG (a folder made by scripts/export-model)\n");
    return 2;
  }
  auto model = open_local_model(flags.model, RuntimeOptions{flags.threads});
  if (!model) {
    std::fprintf(stderr, "llctl generate: %s\n", model.error().c_str());
    return 1;
  }
  GenerateOptions options;
  options.max_tokens = flags.max_tokens;
  options.sampling = SamplingParams{flags.temperature, flags.top_k, flags.top_p, flags.seed};
  options.ignore_eos = flags.ignore_eos;
  options.prefill_chunk = flags.prefill_chunk;
  options.speculation.mode = flags.speculate.empty() ? kDefaultSpeculateMode : flags.speculate;
  if (flags.draft_tokens >= 0) options.speculation.draft_tokens = flags.draft_tokens;
  auto drafter = open_drafter(options.speculation.mode, RuntimeOptions{flags.threads}, &model->manifest);
  if (!drafter) {
    std::fprintf(stderr, "llctl generate: %s\n", drafter.error().c_str());
    return 2;
  }
  options.drafter = drafter->get();
  Generator generator(model->manifest, model->tokenizer, *model->shards);
  auto stream = [&flags](int32_t, const std::string& text) {
    if (!flags.json) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto result = generator.generate(flags.prompt, options, stream);
  if (!result) {
    std::fprintf(stderr, "llctl generate: %s\n", result.error().c_str());
    return 1;
  }
  if (flags.json) {
    nlohmann::json out = {
        {"model", model->manifest.name},
        {"prompt_tokens", result->prompt_tokens},
        {"tokens", result->tokens},
        {"text", result->text},
        {"stop_reason", result->stop_reason},
        {"speculation",
         speculation_json(options.speculation.enabled() ? options.speculation.mode : "off", result->drafted,
                          result->accepted, result->decode_steps, result->tokens.size())},
        {"timings",
         {{"prefill_s", result->prefill_seconds},
          {"prefill_tokens_per_s", result->prefill_tokens_per_s()},
          {"decode_s", result->decode_seconds},
          {"decode_tokens_per_s", result->decode_tokens_per_s()}}}};
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::printf("\n");
  }
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<GenerateFlags>();
  auto* sub = app.add_subcommand("generate", "generate text from a prompt, streamed as it is produced");
  sub->add_flag("--local", flags->local, "run the whole model in this process (no daemon)");
  sub->add_option("--model", flags->model, "model package folder (with --local)");
  sub->add_option("--max-tokens", flags->max_tokens, "tokens to generate, the prompt not counted")
      ->check(CLI::Range(0, 1 << 20));
  sub->add_option("--temperature", flags->temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  sub->add_option("--top-k", flags->top_k, "sample among the k most likely tokens (0 = all)")
      ->check(CLI::Range(0, 1 << 24));
  sub->add_option("--top-p", flags->top_p, "nucleus sampling threshold in (0, 1]")->check(CLI::Range(0.0, 1.0));
  sub->add_option("--seed", flags->seed, "random seed; the same seed gives the same text");
  sub->add_option("--threads", flags->threads, "compute threads (0 = libtorch default)")->check(CLI::Range(0, 256));
  sub->add_option("--prefill-chunk", flags->prefill_chunk,
                  "with --local: tokens per prefill step, as the head daemon's --prefill-chunk (0 = one step; "
                  "default " +
                      std::to_string(kDefaultPrefillChunk) + ")");
  sub->add_flag("--json", flags->json, "print one JSON object with tokens, text and timings");
  sub->add_flag("--ignore-eos", flags->ignore_eos, "benchmarks: always generate --max-tokens tokens");
  sub->add_option("--stall-timeout", flags->stall_timeout_s,
                  "seconds without a word from the head before it counts as lost (default 10)")
      ->check(CLI::Range(0.1, 3600.0));
  sub->add_option("--resume-timeout", flags->resume_timeout_s,
                  "seconds to look for a new head after losing one; 0 = fail at once (default 60)")
      ->check(CLI::Range(0.0, 3600.0));
  sub->add_option("--trace", flags->trace,
                  "write a per-step timeline of every stage (queued, computing, sending, link and wait) to FILE as "
                  "Chrome trace events (Perfetto, chrome://tracing) and print the mean split per token on stderr")
      ->type_name("FILE");
  sub->add_option("--speculate", flags->speculate,
                  "speculative decoding: off, ngram (drafts from the text so far) or draft:PKG (a small model with the "
                  "same tokenizer; on a cluster, the name of the head daemon's --draft-model); the text is the same "
                  "either way (default: the head's setting, or " +
                      std::string(kDefaultSpeculateMode) + " with --local)");
  sub->add_option("--draft-tokens", flags->draft_tokens,
                  "the most tokens one step drafts and verifies (adapts below it; 0 = off; default " +
                      std::to_string(kDefaultDraftTokens) + ")")
      ->check(CLI::Range(0, kMaxDraftTokens));
  sub->add_option("prompt", flags->prompt, "the prompt (empty: start from BOS alone)");
  sub->callback(
      [flags, &global] { global.exit_code = flags->local ? run_local(*flags) : run_cluster(*flags, global); });
}

}  // namespace ll::cli
