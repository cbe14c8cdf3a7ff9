#include "runtime/drafters.h"

#include "engine/ngram_drafter.h"
#include "engine/speculation.h"
#include "runtime/local_model.h"

namespace ll {

Status check_draft_tokenizer(const Manifest& draft, const Manifest& target) {
  if (draft.tokenizer.sha256 != target.tokenizer.sha256 || draft.hparams.vocab_size != target.hparams.vocab_size ||
      draft.tokenizer.bos_id != target.tokenizer.bos_id || draft.tokenizer.eos_id != target.tokenizer.eos_id) {
    return make_error("draft model " + draft.name + " has another tokenizer than " + target.name +
                      " (tokenizer sha256 " + draft.tokenizer.sha256.substr(0, 12) + " vs " +
                      target.tokenizer.sha256.substr(0, 12) + ", vocab " + std::to_string(draft.hparams.vocab_size) +
                      " vs " + std::to_string(target.hparams.vocab_size) + ")");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Drafter>> open_drafter(const std::string& mode, const RuntimeOptions& options,
                                              const Manifest* target, int max_sessions) {
  LL_TRY_STATUS(validate_speculation(mode, kDefaultDraftTokens));
  if (mode == "off") return std::unique_ptr<Drafter>();
  if (mode == "ngram") return std::unique_ptr<Drafter>(std::make_unique<NgramDrafter>());
  const std::string package = mode.substr(6);  // after "draft:"
  auto model = open_local_model(package, options);
  if (!model) return make_error("draft model " + package + ": " + model.error());
  if (target) LL_TRY_STATUS(check_draft_tokenizer(model->manifest, *target));
  const int context_length = model->manifest.hparams.context_length;
  return std::unique_ptr<Drafter>(std::make_unique<ModelDrafter>(std::shared_ptr<ShardRange>(std::move(model->shards)),
                                                                 model->manifest.name, context_length, max_sessions));
}

}  // namespace ll
