// libtorch lives here and nowhere else (besides compute profiling). Exceptions from libtorch are caught at this
// boundary and turned into Result errors.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/mobile/import.h>
#include <torch/csrc/jit/mobile/module.h>

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <thread>
#include <unordered_map>

#include "engine/speculation.h"
#include "runtime/attention_kernel.h"
#include "runtime/blas_kernels.h"
#include "runtime/linear_kernel.h"
#include "runtime/quantized.h"
#include "runtime/torch_runtime.h"

namespace ll {
namespace {

// torch.ops.lingualinked.attend, which exported blocks call (scripts/llexport/attention.py): shapes are checked here,
// the arithmetic is attention_kernel.cc's, split over kv heads.
at::Tensor attend_op(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache, int64_t start_pos,
                     double scale) {
  TORCH_CHECK(q.dim() == 3 && k_cache.dim() == 3 && v_cache.dim() == 3, "attend: q [T, heads, hd], caches [kv, C, hd]");
  TORCH_CHECK(
      q.scalar_type() == at::kFloat && k_cache.scalar_type() == at::kFloat && v_cache.scalar_type() == at::kFloat,
      "attend: float32 tensors only");
  TORCH_CHECK(k_cache.is_contiguous() && v_cache.is_contiguous() && k_cache.sizes() == v_cache.sizes(),
              "attend: the caches must be contiguous and of one shape");
  AttentionShape shape;
  shape.rows = q.size(0);
  shape.n_heads = q.size(1);
  shape.head_dim = q.size(2);
  shape.n_kv_heads = k_cache.size(0);
  shape.context = k_cache.size(1);
  shape.start_pos = start_pos;
  shape.scale = static_cast<float>(scale);
  TORCH_CHECK(k_cache.size(2) == shape.head_dim && shape.n_kv_heads > 0 && shape.n_heads % shape.n_kv_heads == 0,
              "attend: head shapes do not match");
  TORCH_CHECK(start_pos >= 0 && shape.rows >= 0 && start_pos + shape.rows <= shape.context,
              "attend: positions outside the cache");
  const at::Tensor queries = q.contiguous();
  at::Tensor out = at::empty({shape.rows, shape.n_heads * shape.head_dim}, q.options());
  at::parallel_for(0, shape.n_kv_heads, 1, [&](int64_t begin, int64_t end) {
    attend_causal(shape, queries.data_ptr<float>(), k_cache.data_ptr<float>(), v_cache.data_ptr<float>(),
                  out.data_ptr<float>(), begin, end);
  });
  return out;
}

// torch.ops.lingualinked.linear_rows, the decode rows' product x W^T (scripts/llexport/kernels.py): a row's numbers
// do not depend on the other rows of the call, so decode steps need no padding. Output columns are split over
// threads in multiples of 4 (the kernel's tile), which changes no sum.
at::Tensor linear_rows_op(const at::Tensor& x, const at::Tensor& weight) {
  TORCH_CHECK(x.dim() == 2 && weight.dim() == 2 && x.size(1) == weight.size(1), "linear_rows: x [R, in], W [out, in]");
  TORCH_CHECK(x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat, "linear_rows: float32 tensors only");
  const at::Tensor rows = x.contiguous();
  const at::Tensor w = weight.contiguous();
  LinearShape shape;
  shape.rows = rows.size(0);
  shape.in_features = rows.size(1);
  shape.out_features = w.size(0);
  at::Tensor out = at::empty({shape.rows, shape.out_features}, x.options());
  const int64_t tiles = (shape.out_features + 3) / 4;
  at::parallel_for(0, tiles, 16, [&](int64_t begin, int64_t end) {
    linear_rows(shape, rows.data_ptr<float>(), w.data_ptr<float>(), out.data_ptr<float>(), begin * 4,
                std::min(end * 4, shape.out_features));
  });
  return out;
}

TORCH_LIBRARY(lingualinked, m) {
  m.def("attend(Tensor q, Tensor k_cache, Tensor v_cache, int start_pos, float scale) -> Tensor", attend_op);
  m.def("linear_rows(Tensor x, Tensor weight) -> Tensor", linear_rows_op);
}

struct SessionCache {
  std::vector<at::Tensor> keys;    // per block: [n_kv_heads, context, head_dim]
  std::vector<at::Tensor> values;  // same
};

class TorchShardRange final : public ShardRange {
 public:
  TorchShardRange(const Manifest& manifest, int first, int last, std::vector<torch::jit::mobile::Module> modules)
      : hparams_(manifest.hparams), first_(first), last_(last), modules_(std::move(modules)) {
    for (int i = first; i <= last; ++i) {
      kinds_.push_back(manifest.shards[i].kind);
      hashes_.push_back(manifest.shards[i].sha256);
    }
    for (ShardKind kind : kinds_) blocks_ += kind == ShardKind::kBlock ? 1 : 0;
    replay_rows_ = blocks_ > 0;
    for (size_t i = 0; i < modules_.size(); ++i) {
      if (kinds_[i] == ShardKind::kBlock && !modules_[i].find_method("replay_rows")) replay_rows_ = false;
    }
    // Packages whose decode path multiplies with linear_rows say so (rows_invariant); older ones pad to kDecodeRows.
    bool invariant = true;
    for (size_t i = 0; i < modules_.size(); ++i) {
      if (kinds_[i] != ShardKind::kEmbed && !modules_[i].find_method("rows_invariant")) invariant = false;
    }
    pad_rows_ = invariant ? 1 : kDecodeRows;
  }

  // Replayed rows multiply the weights kReplayRows at a time only where this BLAS gives a row the same numbers as in a
  // kDecodeRows call (its small-matrix kernels do not, so small models replay kDecodeRows at a time); every block has
  // the first block's shapes, so one probe decides.
  Status choose_replay_width() {
    gemm_rows_ = kDecodeRows;
    if (pad_rows_ == 1) {  // no BLAS in the decode path: any width gives every row its decode numbers
      gemm_rows_ = kReplayRows;
      return Status::Ok();
    }
    for (size_t i = 0; replay_rows_ && i < modules_.size(); ++i) {
      if (kinds_[i] != ShardKind::kBlock) continue;
      try {
        c10::InferenceMode guard;
        const bool wide =
            modules_[i]
                .run_method("wide_rows_exact", static_cast<int64_t>(kReplayRows), static_cast<int64_t>(kDecodeRows))
                .toBool();
        if (wide) gemm_rows_ = kReplayRows;
      } catch (const std::exception& e) {
        return make_error(std::string("shard execution failed: ") + first_line(e.what()));
      }
      break;
    }
    return Status::Ok();
  }

  // The loaded module of the shard file with this sha256, if this range holds it (shared, not copied).
  std::optional<torch::jit::mobile::Module> module_with_hash(const std::string& sha256) const {
    for (size_t i = 0; i < hashes_.size(); ++i) {
      if (hashes_[i] == sha256) return modules_[i];
    }
    return std::nullopt;
  }

  int first_shard() const override { return first_; }
  int last_shard() const override { return last_; }
  size_t open_sessions() const override { return sessions_.size(); }

  Status open_session(uint64_t session_id) override {
    if (sessions_.count(session_id)) return make_error("session " + std::to_string(session_id) + " is already open");
    try {
      c10::InferenceMode guard;
      SessionCache cache;
      const int64_t shape[] = {hparams_.n_kv_heads, hparams_.context_length, hparams_.head_dim()};
      for (int b = 0; b < blocks_; ++b) {
        cache.keys.push_back(at::zeros(shape, at::kFloat));
        cache.values.push_back(at::zeros(shape, at::kFloat));
      }
      sessions_.emplace(session_id, std::move(cache));
    } catch (const std::exception& e) {
      return make_error(std::string("cannot allocate the KV cache: ") + first_line(e.what()));
    }
    return Status::Ok();
  }

  void close_session(uint64_t session_id) override { sessions_.erase(session_id); }

  Result<std::vector<Tensor32>> forward_batch(const std::vector<uint64_t>& session_ids,
                                              const std::vector<StepInput>& inputs) override {
    if (session_ids.size() != inputs.size() || session_ids.empty()) return make_error("malformed batch");
    return decode_batch(session_ids, inputs);
  }

  Result<Tensor32> forward(uint64_t session_id, const StepInput& input) override {
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return make_error("unknown session " + std::to_string(session_id));
    const int steps = input.step_tokens();
    LL_TRY_STATUS(check_input(input, steps));
    if (input.decode_rows < 0 || input.decode_rows > steps) {
      return make_error("decode_rows " + std::to_string(input.decode_rows) + " outside 0.." + std::to_string(steps));
    }
    // A one-token prefill is a decode row: the local engine and the first run computed it that way.
    const int prefill = steps - input.decode_rows == 1 ? 0 : steps - input.decode_rows;
    if (input.logit_rows < 1 || (input.logit_rows > 1 && input.logit_rows > steps - prefill)) {
      return make_error("logit_rows " + std::to_string(input.logit_rows) + " exceeds the step's " +
                        std::to_string(steps - prefill) + " decode rows");
    }
    try {
      c10::InferenceMode guard;
      at::Tensor source = input_tensor(input, steps);  // ids [T] or hidden [T, dim], not copied
      std::vector<at::Tensor> hidden_parts;
      at::Tensor logits;
      if (prefill > 0) {
        at::Tensor out = run_prefill(it->second, input.start_pos, source.narrow(0, 0, prefill));
        if (ends_with_head())
          logits = out;
        else
          hidden_parts.push_back(out);
      }
      // Blocks exported with replay_rows attend many rows per call and still give each row its decode step's numbers;
      // older packages' blocks run kDecodeRows rows per call, each attending alone.
      const int width = static_cast<int>(replay_rows_ ? kReplayRows : kDecodeRows);
      for (int row = prefill; row < steps; row += width) {
        const int n = std::min(width, steps - row);
        at::Tensor out;
        if (replay_rows_) {
          out = run_replay_rows(it->second, input.start_pos + row, source.narrow(0, row, n), padded_count(n));
        } else {
          std::vector<SessionCache*> caches(n, &it->second);
          std::vector<int64_t> positions;
          for (int i = 0; i < n; ++i) positions.push_back(input.start_pos + row + i);
          out = run_rows(caches, positions, source.narrow(0, row, n), /*with_head=*/false);
        }
        hidden_parts.push_back(out.narrow(0, 0, n));
      }
      // Only the last logit_rows positions' logits are wanted (earlier rows skip the head, which can cost as much as a
      // block), computed as their decode steps computed them: in a call of padded_count rows.
      if (ends_with_head() && prefill < steps) {
        const int want = input.logit_rows;
        at::Tensor rows = hidden_parts.size() == 1 ? hidden_parts[0] : at::cat(hidden_parts, 0);
        at::Tensor last = at::zeros({padded_count(want), hparams_.dim}, at::kFloat);
        last.narrow(0, 0, want).copy_(rows.narrow(0, rows.size(0) - want, want));
        logits = modules_.back().run_method("logits_rows", last).toTensor().narrow(0, 0, want);
        if (want == 1) logits = logits[0];
      }
      if (ends_with_head()) return to_tensor32(logits);
      return to_tensor32(hidden_parts.size() == 1 ? hidden_parts[0] : at::cat(hidden_parts, 0));
    } catch (const std::exception& e) {
      return make_error(std::string("shard execution failed: ") + first_line(e.what()));
    }
  }

  Result<std::vector<float>> cache_snapshot(uint64_t session_id, int positions) const override {
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return make_error("unknown session " + std::to_string(session_id));
    if (positions < 0 || positions > hparams_.context_length) return make_error("positions out of range");
    std::vector<float> out;
    c10::InferenceMode guard;
    for (int b = 0; b < blocks_; ++b) {
      for (const at::Tensor* cache : {&it->second.keys[b], &it->second.values[b]}) {
        at::Tensor part = cache->narrow(1, 0, positions).contiguous();
        out.insert(out.end(), part.data_ptr<float>(), part.data_ptr<float>() + part.numel());
      }
    }
    return out;
  }

 private:
  // Packages exported before linear_rows: decode rows always multiply exactly kDecodeRows rows (zero padding): BLAS
  // chooses kernels by row count, so padding makes a row's numbers independent of how many rows share the step and
  // of which rows they are — a batched, replayed or resumed run gives the local run's numbers bit for bit.
  // Row-invariant packages get the same guarantee from linear_rows without the padding.
  static constexpr size_t kDecodeRows = 8;
  // The longest step a batch takes (a speculative step: the last token and its draft), and the rows per call of a
  // row-invariant package's batch.
  static constexpr int kMaxBatchStepRows = kMaxDraftTokens + 1;
  static constexpr int64_t kBatchCallRows = 64;
  // Rows per replay_rows call: a multiple of kDecodeRows (so BLAS gives each row its decode numbers).
  static constexpr size_t kReplayRows = 128;

  // Rows a call of n decode rows multiplies: n itself for row-invariant packages, else n rounded up to kDecodeRows.
  int64_t padded_count(int64_t n) const { return (n + pad_rows_ - 1) / pad_rows_ * pad_rows_; }

  bool ends_with_head() const { return kinds_.back() == ShardKind::kHead; }

  // The step's input as a tensor over the caller's memory: token ids [T] (int64) or the hidden state [T, dim].
  at::Tensor input_tensor(const StepInput& input, int steps) const {
    if (kinds_.front() == ShardKind::kEmbed) {
      std::vector<int64_t> ids(input.tokens.begin(), input.tokens.end());
      return at::tensor(ids, at::kLong);
    }
    return at::from_blob(const_cast<float*>(input.hidden.values.data()), {steps, hparams_.dim}, at::kFloat);
  }

  // One multi-row prefill of consecutive positions from start_pos: hidden [T, dim] out, or the logits of the last
  // position [vocab] when the range ends with the head.
  at::Tensor run_prefill(SessionCache& cache, int start_pos, const at::Tensor& source) {
    at::Tensor x = kinds_.front() == ShardKind::kEmbed ? at::Tensor() : source;
    size_t block = 0;
    for (size_t i = 0; i < modules_.size(); ++i) {
      switch (kinds_[i]) {
        case ShardKind::kEmbed:
          x = modules_[i].forward({source}).toTensor();
          break;
        case ShardKind::kBlock:
          x = modules_[i]
                  .forward({x, static_cast<int64_t>(start_pos), cache.keys[block], cache.values[block]})
                  .toTensor();
          ++block;
          break;
        case ShardKind::kHead:
          x = modules_[i].forward({x}).toTensor();
          break;
      }
    }
    return x;
  }

  // The block input for `source`'s n rows (token ids, embedded here if the range starts with the embedding, or hidden
  // states), zero-padded to `rows` rows: calls always multiply a fixed number of rows.
  at::Tensor padded_rows(const at::Tensor& source, int64_t rows) {
    const int64_t n = source.size(0);
    if (kinds_.front() == ShardKind::kEmbed) {
      at::Tensor ids = at::zeros({rows}, at::kLong);
      ids.narrow(0, 0, n).copy_(source);
      at::Tensor x = modules_[0].forward({ids}).toTensor();
      if (n < rows) x.narrow(0, n, rows - n).zero_();
      return x;
    }
    at::Tensor x = at::zeros({rows, hparams_.dim}, at::kFloat);
    x.narrow(0, 0, n).copy_(source);
    return x;
  }

  // Up to `rows` one-token rows, row i at positions[i] of caches[i] (rows of one session at consecutive positions
  // may share a call: each row writes its key and value before the next row attends). Returns [rows, dim], or
  // [rows, vocab] when the range ends with the head and `with_head` is set.
  at::Tensor run_rows(const std::vector<SessionCache*>& caches, const std::vector<int64_t>& positions,
                      const at::Tensor& source, bool with_head) {
    at::Tensor x = padded_rows(source, padded_count(source.size(0)));
    c10::List<int64_t> position_list;
    for (int64_t p : positions) position_list.push_back(p);
    size_t block = 0;
    for (size_t i = 0; i < modules_.size(); ++i) {
      if (kinds_[i] == ShardKind::kBlock) {
        c10::List<at::Tensor> keys, values;
        for (SessionCache* cache : caches) {
          keys.push_back(cache->keys[block]);
          values.push_back(cache->values[block]);
        }
        x = modules_[i].run_method("decode_batch", x, position_list, keys, values).toTensor();
        ++block;
      } else if (kinds_[i] == ShardKind::kHead && with_head) {
        x = modules_[i].run_method("logits_rows", x).toTensor();
      }
    }
    return x;
  }

  // `source` rows are consecutive positions of one session from start_pos, run `rows` wide (zero padding) through
  // every block's replay_rows; returns [rows, dim]. The range's head, if any, is left to the caller.
  at::Tensor run_replay_rows(SessionCache& cache, int64_t start_pos, const at::Tensor& source, int64_t rows) {
    const int64_t n = source.size(0);
    at::Tensor x = padded_rows(source, rows);
    size_t block = 0;
    for (size_t i = 0; i < modules_.size(); ++i) {
      if (kinds_[i] != ShardKind::kBlock) continue;
      x = modules_[i]
              .run_method("replay_rows", x, start_pos, n, cache.keys[block], cache.values[block],
                          static_cast<int64_t>(gemm_rows_))
              .toTensor();
      ++block;
    }
    return x;
  }

  // Decode steps of several sessions: one token each, or a few tokens that are all decode rows (a speculative step).
  // Their rows run in calls of kDecodeRows rows (padded packages: the row count their exactness was checked at) or
  // kBatchCallRows (row-invariant packages); a session's rows stay in order, each writing its key and value before
  // the next attends, so every row gets its lone decode step's numbers.
  Result<std::vector<Tensor32>> decode_batch(const std::vector<uint64_t>& session_ids,
                                             const std::vector<StepInput>& inputs) {
    std::vector<SessionCache*> caches;
    std::vector<int64_t> positions;
    std::vector<int64_t> ids;
    for (size_t i = 0; i < session_ids.size(); ++i) {
      auto it = sessions_.find(session_ids[i]);
      if (it == sessions_.end()) return make_error("unknown session " + std::to_string(session_ids[i]));
      const int steps = inputs[i].step_tokens();
      if (steps != 1 && (inputs[i].decode_rows != steps || steps > kMaxBatchStepRows)) {
        return make_error("a batch holds decode steps: one token, or up to " + std::to_string(kMaxBatchStepRows) +
                          " decode rows");
      }
      if (inputs[i].logit_rows < 1 || inputs[i].logit_rows > steps) return make_error("logit_rows out of range");
      LL_TRY_STATUS(check_input(inputs[i], steps));
      for (int r = 0; r < steps; ++r) {
        caches.push_back(&it->second);
        positions.push_back(inputs[i].start_pos + r);
        if (kinds_.front() == ShardKind::kEmbed) ids.push_back(inputs[i].tokens[static_cast<size_t>(r)]);
      }
    }
    const int64_t total = static_cast<int64_t>(positions.size());
    try {
      c10::InferenceMode guard;
      at::Tensor source;
      if (kinds_.front() == ShardKind::kEmbed) {
        source = at::tensor(ids, at::kLong);
      } else {
        source = at::empty({total, hparams_.dim}, at::kFloat);
        float* out = source.data_ptr<float>();
        for (const auto& in : inputs) {
          std::memcpy(out, in.hidden.values.data(), sizeof(float) * in.hidden.values.size());
          out += in.hidden.values.size();
        }
      }
      const int64_t per_call = pad_rows_ == 1 ? kBatchCallRows : static_cast<int64_t>(kDecodeRows);
      std::vector<at::Tensor> parts;
      for (int64_t begin = 0; begin < total; begin += per_call) {
        const int64_t n = std::min(per_call, total - begin);
        std::vector<SessionCache*> call_caches(caches.begin() + begin, caches.begin() + begin + n);
        std::vector<int64_t> call_positions(positions.begin() + begin, positions.begin() + begin + n);
        parts.push_back(
            run_rows(call_caches, call_positions, source.narrow(0, begin, n), /*with_head=*/true).narrow(0, 0, n));
      }
      at::Tensor x = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
      std::vector<Tensor32> outputs;
      int64_t row = 0;
      for (const auto& in : inputs) {
        const int64_t steps = in.step_tokens();
        if (!ends_with_head()) {
          outputs.push_back(to_tensor32(x.narrow(0, row, steps)));
        } else if (in.logit_rows == 1) {
          outputs.push_back(to_tensor32(x[row + steps - 1]));
        } else {
          outputs.push_back(to_tensor32(x.narrow(0, row + steps - in.logit_rows, in.logit_rows)));
        }
        row += steps;
      }
      return outputs;
    } catch (const std::exception& e) {
      return make_error(std::string("batched shard execution failed: ") + first_line(e.what()));
    }
  }

  static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

  Status check_input(const StepInput& input, int steps) const {
    if (steps <= 0) return make_error("empty step");
    if (input.start_pos < 0 || input.start_pos + steps > hparams_.context_length) {
      return make_error("positions " + std::to_string(input.start_pos) + ".." +
                        std::to_string(input.start_pos + steps) + " exceed the context length " +
                        std::to_string(hparams_.context_length));
    }
    if (kinds_.front() == ShardKind::kEmbed) {
      for (int32_t t : input.tokens) {
        if (t < 0 || t >= hparams_.vocab_size) return make_error("token id " + std::to_string(t) + " out of range");
      }
      return Status::Ok();
    }
    const auto& h = input.hidden;
    if (h.shape.size() != 2 || h.shape[1] != hparams_.dim ||
        h.values.size() != static_cast<size_t>(h.shape[0]) * static_cast<size_t>(hparams_.dim)) {
      return make_error("hidden state shape does not match [T, " + std::to_string(hparams_.dim) + "]");
    }
    return Status::Ok();
  }

  static Tensor32 to_tensor32(const at::Tensor& tensor) {
    at::Tensor t = tensor.contiguous();
    Tensor32 out;
    out.shape.assign(t.sizes().begin(), t.sizes().end());
    const float* data = t.data_ptr<float>();
    out.values.assign(data, data + t.numel());
    return out;
  }

  Hyperparameters hparams_;
  int first_;
  int last_;
  int blocks_ = 0;
  bool replay_rows_ = false;        // every block exports replay_rows
  size_t gemm_rows_ = kDecodeRows;  // rows per weight multiply in replay_rows (wide_rows_exact)
  int64_t pad_rows_ = kDecodeRows;  // decode calls multiply a multiple of this many rows (1: row-invariant package)
  std::vector<ShardKind> kinds_;
  std::vector<std::string> hashes_;  // sha256 of each module's file
  std::vector<torch::jit::mobile::Module> modules_;
  std::unordered_map<uint64_t, SessionCache> sessions_;
};

}  // namespace

Result<std::unique_ptr<ShardRange>> load_shard_range(const Manifest& manifest, int first, int last,
                                                     const ShardPathFn& path_of, const RuntimeOptions& options,
                                                     const ShardRange* reuse) {
  const int n = static_cast<int>(manifest.shards.size());
  if (first < 0 || last >= n || first > last) {
    return make_error("shard range " + std::to_string(first) + ".." + std::to_string(last) + " is outside 0.." +
                      std::to_string(n - 1));
  }
  if (options.threads > 0) set_compute_threads(options.threads);
  LL_TRY_STATUS(check_package_engine(manifest));  // before any int8 weights are packed
  const auto* previous = dynamic_cast<const TorchShardRange*>(reuse);
  const size_t count = static_cast<size_t>(last - first + 1);
  std::vector<std::optional<torch::jit::mobile::Module>> modules(count);
  std::vector<std::string> errors(count);
  std::vector<size_t> to_load;
  for (size_t k = 0; k < count; ++k) {
    if (previous) modules[k] = previous->module_with_hash(manifest.shards[first + static_cast<int>(k)].sha256);
    if (!modules[k]) to_load.push_back(k);
  }
  // Hashing and unpacking a shard is CPU work: two at a time (the pause after losing a device is mostly this).
  std::atomic<size_t> next{0};
  auto load_some = [&] {
    for (size_t j = next++; j < to_load.size(); j = next++) {
      const size_t k = to_load[j];
      const ShardInfo& shard = manifest.shards[first + static_cast<int>(k)];
      const std::string path = path_of(shard);
      // A TorchScript archive is code: only a file whose hash the manifest names is ever handed to libtorch.
      if (Status ok = verify_file(path, shard.file_bytes, shard.sha256); !ok.ok()) {
        errors[k] = ok.error();
        continue;
      }
      try {
        modules[k] = torch::jit::_load_for_mobile(path);
      } catch (const std::exception& e) {
        std::string what = e.what();
        errors[k] = path + ": not a loadable TorchScript lite-interpreter file: " + what.substr(0, what.find('\n'));
      }
      if (modules[k]) {
        if (Status weights = check_shard_weights(*modules[k], manifest, path); !weights.ok())
          errors[k] = weights.error();
      }
    }
  };
  std::thread helper;
  if (to_load.size() > 1 && std::thread::hardware_concurrency() > 1) helper = std::thread(load_some);
  load_some();
  if (helper.joinable()) helper.join();
  std::vector<torch::jit::mobile::Module> loaded;
  for (size_t k = 0; k < count; ++k) {
    if (!errors[k].empty()) return make_error(errors[k]);
    loaded.push_back(std::move(*modules[k]));
  }
  auto range = std::make_unique<TorchShardRange>(manifest, first, last, std::move(loaded));
  LL_TRY_STATUS(range->choose_replay_width());
  return std::unique_ptr<ShardRange>(std::move(range));
}

Result<std::unique_ptr<ShardRange>> load_package_range(const Manifest& manifest, const std::string& package_dir,
                                                       int first, int last, const RuntimeOptions& options) {
  return load_shard_range(
      manifest, first, last, [&package_dir](const ShardInfo& s) { return package_dir + "/" + s.file; }, options);
}

void set_compute_threads(int threads) {
  at::set_num_threads(threads);
  // Debian's libtorch is built against a generic BLAS and so does not tell OpenBLAS how many threads to use:
  // without this, `--threads 1` still multiplied on every core, and idle BLAS threads spun beside other daemons.
  using SetThreads = void (*)(int);
  for (const char* name : {"openblas_set_num_threads", "goto_set_num_threads"}) {
    if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, name))) {
      set(threads);
      break;
    }
  }
}

std::string runtime_description() {
  // libtorch calls sgemm_ from whichever libblas.so.3 the dynamic linker mapped (Debian's alternatives, or
  // LD_LIBRARY_PATH): name that file.
  std::string blas = "unknown BLAS";
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("libblas.so") == std::string::npos || line.find('/') == std::string::npos) continue;
    char resolved[PATH_MAX];
    const std::string path = line.substr(line.find('/'));
    blas = ::realpath(path.c_str(), resolved) ? resolved : path;
    break;
  }
  Result<std::string> engine = quantized_engine();
  const std::string core = openblas_core();
  if (!core.empty()) blas += " (" + core + " kernels)";
  return "libtorch " + std::to_string(at::get_num_threads()) + " threads, BLAS " + blas + ", int8 engine " +
         (engine.ok() ? *engine : std::string("none"));
}

}  // namespace ll
