// libtorch lives here and nowhere else (besides compute profiling). Exceptions from libtorch are caught at this
// boundary and turned into Result errors.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/mobile/import.h>
#include <torch/csrc/jit/mobile/module.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unordered_map>

#include "runtime/quantized.h"
#include "runtime/torch_runtime.h"

namespace ll {
namespace {

struct SessionCache {
  std::vector<at::Tensor> keys;    // per block: [n_kv_heads, context, head_dim]
  std::vector<at::Tensor> values;  // same
};

class TorchShardRange final : public ShardRange {
 public:
  TorchShardRange(const Manifest& manifest, int first, int last, std::vector<torch::jit::mobile::Module> modules)
      : hparams_(manifest.hparams), first_(first), last_(last), modules_(std::move(modules)) {
    for (int i = first; i <= last; ++i) kinds_.push_back(manifest.shards[i].kind);
    for (ShardKind kind : kinds_) blocks_ += kind == ShardKind::kBlock ? 1 : 0;
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
    std::vector<Tensor32> outputs;
    for (size_t begin = 0; begin < session_ids.size(); begin += kDecodeRows) {
      const size_t end = std::min(session_ids.size(), begin + kDecodeRows);
      LL_ASSIGN_OR_RETURN(std::vector<Tensor32> part,
                          decode_rows(std::vector<uint64_t>(session_ids.begin() + begin, session_ids.begin() + end),
                                      std::vector<StepInput>(inputs.begin() + begin, inputs.begin() + end)));
      for (auto& out : part) outputs.push_back(std::move(out));
    }
    return outputs;
  }

  Result<Tensor32> forward(uint64_t session_id, const StepInput& input) override {
    if (input.step_tokens() == 1) {  // a decode step: the same fixed-row path as a batch, so results agree exactly
      LL_ASSIGN_OR_RETURN(std::vector<Tensor32> out, decode_rows({session_id}, {input}));
      return std::move(out[0]);
    }
    auto it = sessions_.find(session_id);
    if (it == sessions_.end()) return make_error("unknown session " + std::to_string(session_id));
    const int steps = input.step_tokens();
    LL_TRY_STATUS(check_input(input, steps));
    try {
      c10::InferenceMode guard;
      at::Tensor x;
      size_t block = 0;
      for (size_t i = 0; i < modules_.size(); ++i) {
        switch (kinds_[i]) {
          case ShardKind::kEmbed: {
            std::vector<int64_t> ids(input.tokens.begin(), input.tokens.end());
            x = modules_[i].forward({at::tensor(ids, at::kLong)}).toTensor();
            break;
          }
          case ShardKind::kBlock: {
            if (!x.defined()) {
              x = at::from_blob(const_cast<float*>(input.hidden.values.data()), {steps, hparams_.dim}, at::kFloat);
            }
            x = modules_[i]
                    .forward(
                        {x, static_cast<int64_t>(input.start_pos), it->second.keys[block], it->second.values[block]})
                    .toTensor();
            ++block;
            break;
          }
          case ShardKind::kHead: {
            if (!x.defined()) {
              x = at::from_blob(const_cast<float*>(input.hidden.values.data()), {steps, hparams_.dim}, at::kFloat);
            }
            x = modules_[i].forward({x}).toTensor();
            break;
          }
        }
      }
      return to_tensor32(x);
    } catch (const std::exception& e) {
      return make_error(std::string("shard execution failed: ") + first_line(e.what()));
    }
  }

 private:
  // Decode steps of up to kDecodeRows sessions, one token each. The matrices always get exactly kDecodeRows rows
  // (zero padding): BLAS chooses kernels by row count, so padding makes a session's numbers independent of how
  // many sessions share the step — a batched or replayed run gives the local run's tokens exactly.
  static constexpr size_t kDecodeRows = 8;

  Result<std::vector<Tensor32>> decode_rows(const std::vector<uint64_t>& session_ids,
                                            const std::vector<StepInput>& inputs) {
    std::vector<SessionCache*> caches;
    for (size_t i = 0; i < session_ids.size(); ++i) {
      auto it = sessions_.find(session_ids[i]);
      if (it == sessions_.end()) return make_error("unknown session " + std::to_string(session_ids[i]));
      if (inputs[i].step_tokens() != 1) return make_error("a batch holds decode steps of one token each");
      LL_TRY_STATUS(check_input(inputs[i], 1));
      caches.push_back(&it->second);
    }
    const int64_t batch = static_cast<int64_t>(inputs.size());
    const int64_t rows = static_cast<int64_t>(kDecodeRows);
    try {
      c10::InferenceMode guard;
      at::Tensor x;
      if (kinds_.front() == ShardKind::kEmbed) {
        std::vector<int64_t> ids(kDecodeRows, 0);
        for (int64_t b = 0; b < batch; ++b) ids[b] = inputs[b].tokens[0];
        x = modules_[0].forward({at::tensor(ids, at::kLong)}).toTensor();
        if (batch < rows) x.narrow(0, batch, rows - batch).zero_();
      } else {
        x = at::zeros({rows, hparams_.dim}, at::kFloat);
        for (int64_t b = 0; b < batch; ++b) {
          std::memcpy(x[b].data_ptr<float>(), inputs[b].hidden.values.data(), sizeof(float) * hparams_.dim);
        }
      }
      c10::List<int64_t> positions;
      for (const auto& in : inputs) positions.push_back(in.start_pos);
      size_t block = 0;
      for (size_t i = 0; i < modules_.size(); ++i) {
        if (kinds_[i] == ShardKind::kBlock) {
          c10::List<at::Tensor> keys, values;
          for (SessionCache* cache : caches) {
            keys.push_back(cache->keys[block]);
            values.push_back(cache->values[block]);
          }
          x = modules_[i].run_method("decode_batch", x, positions, keys, values).toTensor();
          ++block;
        } else if (kinds_[i] == ShardKind::kHead) {
          x = modules_[i].run_method("logits_rows", x).toTensor();
        }
      }
      std::vector<Tensor32> outputs;
      for (int64_t b = 0; b < batch; ++b) {
        Tensor32 row = to_tensor32(x[b]);
        if (kinds_.back() != ShardKind::kHead) row.shape = {1, hparams_.dim};
        outputs.push_back(std::move(row));
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
  std::vector<ShardKind> kinds_;
  std::vector<torch::jit::mobile::Module> modules_;
  std::unordered_map<uint64_t, SessionCache> sessions_;
};

}  // namespace

Result<std::unique_ptr<ShardRange>> load_shard_range(const Manifest& manifest, int first, int last,
                                                     const ShardPathFn& path_of, const RuntimeOptions& options) {
  const int n = static_cast<int>(manifest.shards.size());
  if (first < 0 || last >= n || first > last) {
    return make_error("shard range " + std::to_string(first) + ".." + std::to_string(last) + " is outside 0.." +
                      std::to_string(n - 1));
  }
  if (options.threads > 0) at::set_num_threads(options.threads);
  LL_TRY_STATUS(check_package_engine(manifest));  // before any int8 weights are packed
  std::vector<torch::jit::mobile::Module> modules;
  for (int i = first; i <= last; ++i) {
    const ShardInfo& shard = manifest.shards[i];
    const std::string path = path_of(shard);
    // A TorchScript archive is code: only a file whose hash the manifest names is ever handed to libtorch.
    LL_TRY_STATUS(verify_file(path, shard.file_bytes, shard.sha256));
    try {
      modules.push_back(torch::jit::_load_for_mobile(path));
    } catch (const std::exception& e) {
      std::string what = e.what();
      return make_error(path +
                        ": not a loadable TorchScript lite-interpreter file: " + what.substr(0, what.find('\n')));
    }
    LL_TRY_STATUS(check_shard_weights(modules.back(), manifest, path));
  }
  return std::unique_ptr<ShardRange>(new TorchShardRange(manifest, first, last, std::move(modules)));
}

Result<std::unique_ptr<ShardRange>> load_package_range(const Manifest& manifest, const std::string& package_dir,
                                                       int first, int last, const RuntimeOptions& options) {
  return load_shard_range(
      manifest, first, last, [&package_dir](const ShardInfo& s) { return package_dir + "/" + s.file; }, options);
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
  return "libtorch " + std::to_string(at::get_num_threads()) + " threads, BLAS " + blas + ", int8 engine " +
         (engine.ok() ? *engine : std::string("none"));
}

}  // namespace ll
