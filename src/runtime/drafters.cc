#include "runtime/drafters.h"

#include "engine/ngram_drafter.h"
#include "engine/speculation.h"

namespace ll {

Result<std::unique_ptr<Drafter>> open_drafter(const std::string& mode, const RuntimeOptions& options) {
  (void)options;
  LL_TRY_STATUS(validate_speculation(mode, kDefaultDraftTokens));
  if (mode == "off") return std::unique_ptr<Drafter>();
  if (mode == "ngram") return std::unique_ptr<Drafter>(std::make_unique<NgramDrafter>());
  return make_error("draft model packages are not supported yet: " + mode);
}

}  // namespace ll
