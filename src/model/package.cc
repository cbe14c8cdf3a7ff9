#include "model/package.h"

#include <sys/stat.h>

namespace ll {

Result<Tokenizer> load_package_tokenizer(const Manifest& manifest, const std::string& package_dir) {
  const std::string path = package_dir + "/" + manifest.tokenizer.file;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(path + ": tokenizer file missing");
  LL_TRY_STATUS(verify_file(path, static_cast<uint64_t>(st.st_size), manifest.tokenizer.sha256));
  return load_tokenizer_file(manifest, path);
}

Result<Tokenizer> load_tokenizer_file(const Manifest& manifest, const std::string& path) {
  if (manifest.tokenizer.format == "llama2c") {
    LL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load_llama2c(path, manifest.hparams.vocab_size));
    return tokenizer;
  }
  LL_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::load_hf(path));
  if (tokenizer.vocab_size() > manifest.hparams.vocab_size) {
    return make_error(path + ": tokenizer has more tokens than the model's vocabulary");
  }
  return tokenizer;
}

}  // namespace ll
