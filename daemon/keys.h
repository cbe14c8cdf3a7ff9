// The daemon's side of CURVE (docs/security.md): `lingualinkd --init` makes the keys folder, and at start the
// daemon decides whether it runs with CURVE (keys present), refuses to start (keys missing on a non-loopback
// address) or runs in the clear (--insecure, or loopback only) — with a warning either way. Not thread-safe: call
// from main before any socket exists.
#pragma once

#include "daemon/config.h"
#include "lingualinked/result.h"

namespace ll::daemon {

// Creates keys_dir (0700) with device.key, cluster.key (when missing: this device starts a new cluster) and an
// authorized_keys that lists this device. Prints what to copy to the other devices. Never overwrites a key.
[[nodiscard]] Status init_keys(const DaemonConfig& config);

// Loads and installs the process's security settings (net::install_security) or explains why it cannot.
[[nodiscard]] Status setup_security(const DaemonConfig& config);

}  // namespace ll::daemon
