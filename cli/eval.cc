// llctl eval --model PKG --reference PKG --text FILE: how far a package's next-token distributions are from a
// reference package's (an int8 export against its fp32 one) over every position of a text: mean KL divergence
// KL(reference || model), top-1 agreement, and both perplexities. The text is split into documents at blank lines,
// each tokenized with BOS and cut into windows of at most --window tokens; each window is teacher-forced through
// both models with decode steps (the path generation uses), up to eight windows per batched step.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "runtime/local_model.h"

namespace ll::cli {
namespace {

struct EvalFlags {
  std::string model;
  std::string reference;
  std::string text;
  int window = 256;
  int max_positions = 0;
  int threads = 0;
  bool json = false;
};

struct EvalTotals {
  uint64_t positions = 0;
  double kl = 0;           // sum over positions, nats
  uint64_t top1_same = 0;  // positions where both models' most likely token agree
  double nll_model = 0;    // sum of -log p_model(actual next token)
  double nll_reference = 0;

  void add(const Tensor32& model_logits, const Tensor32& reference_logits, int32_t next);
  EvalTotals& operator+=(const EvalTotals& other) {
    positions += other.positions;
    kl += other.kl;
    top1_same += other.top1_same;
    nll_model += other.nll_model;
    nll_reference += other.nll_reference;
    return *this;
  }
};

// log-softmax in double precision
std::vector<double> log_softmax(const std::vector<float>& logits) {
  const double top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l) - top);
  const double log_sum = top + std::log(sum);
  std::vector<double> out(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_sum;
  return out;
}

void EvalTotals::add(const Tensor32& model_logits, const Tensor32& reference_logits, int32_t next) {
  const std::vector<double> q = log_softmax(model_logits.values);
  const std::vector<double> p = log_softmax(reference_logits.values);
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += std::exp(p[i]) * (p[i] - q[i]);
  this->kl += std::max(0.0, kl);
  top1_same += std::max_element(p.begin(), p.end()) - p.begin() == std::max_element(q.begin(), q.end()) - q.begin();
  nll_model -= q[next];
  nll_reference -= p[next];
  ++positions;
}

// Documents (separated by blank lines), tokenized with BOS and cut into windows of at most `window` tokens.
std::vector<std::vector<int32_t>> make_windows(const std::string& text, const Tokenizer& tokenizer, int window) {
  std::vector<std::vector<int32_t>> windows;
  std::istringstream in(text);
  std::string line, document;
  auto flush = [&] {
    if (document.find_first_not_of(" \t\n") != std::string::npos) {
      std::vector<int32_t> tokens = tokenizer.encode(document, /*add_bos=*/true);
      for (size_t begin = 1; begin < tokens.size(); begin += window - 1) {
        std::vector<int32_t> w{tokenizer.bos_id()};
        const size_t end = std::min(tokens.size(), begin + window - 1);
        w.insert(w.end(), tokens.begin() + begin, tokens.begin() + end);
        if (w.size() >= 2) windows.push_back(std::move(w));
      }
    }
    document.clear();
  };
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      flush();
    } else {
      document += (document.empty() ? "" : "\n") + line;
    }
  }
  flush();
  return windows;
}

// Teacher-forces up to eight windows at once through both models; the totals of all their positions.
Result<EvalTotals> run_windows(LocalModel& model, LocalModel& reference,
                               const std::vector<std::vector<int32_t>>& windows, uint64_t session_base) {
  EvalTotals totals;
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < windows.size(); ++i) {
    ids.push_back(session_base + i);
    LL_TRY_STATUS(model.shards->open_session(ids.back()));
    LL_TRY_STATUS(reference.shards->open_session(ids.back()));
  }
  size_t longest = 0;
  for (const auto& w : windows) longest = std::max(longest, w.size());
  Status status = Status::Ok();
  for (size_t pos = 0; pos + 1 < longest && status.ok(); ++pos) {
    std::vector<uint64_t> step_ids;
    std::vector<StepInput> steps;
    std::vector<int32_t> next;
    for (size_t i = 0; i < windows.size(); ++i) {
      if (pos + 1 >= windows[i].size()) continue;
      StepInput step;
      step.start_pos = static_cast<int>(pos);
      step.tokens = {windows[i][pos]};
      step_ids.push_back(ids[i]);
      steps.push_back(std::move(step));
      next.push_back(windows[i][pos + 1]);
    }
    auto got = model.shards->forward_batch(step_ids, steps);
    auto want = reference.shards->forward_batch(step_ids, steps);
    if (!got.ok() || !want.ok()) {
      status = got.ok() ? Status(want.take_error()) : Status(got.take_error());
      break;
    }
    for (size_t i = 0; i < next.size(); ++i) totals.add((*got)[i], (*want)[i], next[i]);
  }
  for (uint64_t id : ids) {
    model.shards->close_session(id);
    reference.shards->close_session(id);
  }
  if (!status.ok()) return status.take_error();
  return totals;
}

int run_eval(const EvalFlags& flags) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "llctl eval: %s\n", message.c_str());
    return 1;
  };
  std::ifstream file(flags.text, std::ios::binary);
  if (!file) return fail("cannot read " + flags.text);
  std::stringstream buffer;
  buffer << file.rdbuf();
  auto model = open_local_model(flags.model, RuntimeOptions{flags.threads});
  if (!model) return fail(model.error());
  auto reference = open_local_model(flags.reference, RuntimeOptions{flags.threads});
  if (!reference) return fail(reference.error());
  if (model->manifest.tokenizer.sha256 != reference->manifest.tokenizer.sha256 ||
      model->manifest.hparams.vocab_size != reference->manifest.hparams.vocab_size) {
    return fail("the two packages do not share a tokenizer and vocabulary");
  }
  const int window = std::max(2, std::min(flags.window, model->manifest.hparams.context_length));
  std::vector<std::vector<int32_t>> windows = make_windows(buffer.str(), model->tokenizer, window);
  if (flags.max_positions > 0) {  // keep whole windows up to the budget, the last one cut
    uint64_t kept = 0;
    size_t n = 0;
    for (; n < windows.size() && kept < static_cast<uint64_t>(flags.max_positions); ++n) {
      const uint64_t room = flags.max_positions - kept;
      if (windows[n].size() - 1 > room) windows[n].resize(room + 1);
      kept += windows[n].size() - 1;
    }
    windows.resize(n);
  }
  if (windows.empty()) return fail(flags.text + ": no text to evaluate");
  EvalTotals totals;
  for (size_t begin = 0; begin < windows.size(); begin += 8) {
    std::vector<std::vector<int32_t>> group(windows.begin() + begin,
                                            windows.begin() + std::min(windows.size(), begin + 8));
    auto part = run_windows(*model, *reference, group, 1 + begin);
    if (!part.ok()) return fail(part.error());
    totals += *part;
  }
  const double n = static_cast<double>(totals.positions);
  const double ppl = std::exp(totals.nll_model / n);
  const double ppl_reference = std::exp(totals.nll_reference / n);
  nlohmann::json out = {{"model", flags.model},
                        {"reference", flags.reference},
                        {"model_weight_dtype", model->manifest.weight_dtype},
                        {"reference_weight_dtype", reference->manifest.weight_dtype},
                        {"positions", totals.positions},
                        {"windows", windows.size()},
                        {"mean_kl", totals.kl / n},
                        {"top1_agreement", static_cast<double>(totals.top1_same) / n},
                        {"perplexity", ppl},
                        {"reference_perplexity", ppl_reference},
                        {"perplexity_change", ppl / ppl_reference - 1},
                        {"runtime", runtime_description()}};
  if (flags.json) {
    std::printf("%s\n", out.dump(1).c_str());
    return 0;
  }
  std::printf("positions        %llu (%zu windows of at most %d tokens)\n",
              static_cast<unsigned long long>(totals.positions), windows.size(), window);
  std::printf("mean KL          %.6f nats (reference || model, next-token distributions)\n", totals.kl / n);
  std::printf("top-1 agreement  %.4f\n", static_cast<double>(totals.top1_same) / n);
  std::printf("perplexity       %.4f (%s), reference %.4f (%s): %+.3f%%\n", ppl, model->manifest.weight_dtype.c_str(),
              ppl_reference, reference->manifest.weight_dtype.c_str(), 100 * (ppl / ppl_reference - 1));
  std::printf("runtime          %s\n", runtime_description().c_str());
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<EvalFlags>();
  auto* sub = app.add_subcommand("eval", "compare a package's next-token distributions with a reference package's");
  sub->add_option("--model", flags->model, "package to evaluate (e.g. the int8 export)")->required();
  sub->add_option("--reference", flags->reference, "reference package (e.g. the fp32 export)")->required();
  sub->add_option("--text", flags->text, "text file; documents separated by blank lines")->required();
  sub->add_option("--window", flags->window, "tokens per window, BOS included")->check(CLI::Range(2, 1 << 20));
  sub->add_option("--max-positions", flags->max_positions, "stop after this many positions (0 = the whole text)")
      ->check(CLI::Range(0, 1 << 30));
  sub->add_option("--threads", flags->threads, "compute threads (0 = libtorch default)")->check(CLI::Range(0, 256));
  sub->add_flag("--json", flags->json, "print JSON");
  sub->callback([flags, &global] { global.exit_code = run_eval(*flags); });
}

}  // namespace ll::cli
