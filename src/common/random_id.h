// Unguessable identifiers (session ids): drawn from libsodium's CSPRNG, so one client cannot predict another's.
// Thread-safety: thread-safe (randombytes_buf is).
#pragma once

#include <cstdint>

namespace ll {

// A uniformly random, non-zero 64-bit value.
[[nodiscard]] uint64_t random_nonzero_u64();

}  // namespace ll
