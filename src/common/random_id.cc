#include "common/random_id.h"

#include <sodium.h>

namespace ll {

uint64_t random_nonzero_u64() {
  uint64_t value = 0;
  while (value == 0) randombytes_buf(&value, sizeof value);  // sodium_init() is not needed for randombytes
  return value;
}

}  // namespace ll
