#include "runtime/local_model.h"

#include "model/package.h"

namespace ll {

Result<LocalModel> open_local_model(const std::string& package_dir, const RuntimeOptions& options) {
  LL_ASSIGN_OR_RETURN(Manifest manifest, load_manifest(package_dir));
  LL_ASSIGN_OR_RETURN(Tokenizer tokenizer, load_package_tokenizer(manifest, package_dir));
  const int last = static_cast<int>(manifest.shards.size()) - 1;
  LL_ASSIGN_OR_RETURN(std::unique_ptr<ShardRange> shards, load_package_range(manifest, package_dir, 0, last, options));
  return LocalModel{package_dir, std::move(manifest), std::move(tokenizer), std::move(shards)};
}

}  // namespace ll
