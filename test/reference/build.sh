#!/usr/bin/env bash
# Builds the reference oracle run_ref (tests only) into $LL_BUILD_DIR/bin/run_ref; prints its path.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="${LL_BUILD_DIR:-$here/../../build}"
mkdir -p "$build_dir/bin"
out="$build_dir/bin/run_ref"
if [[ ! -x "$out" || "$here/run_ref.c" -nt "$out" ]]; then
  "${CC:-gcc}" -O2 -Wall -Wextra -o "$out.tmp.$$" "$here/run_ref.c" -lm
  mv -f "$out.tmp.$$" "$out"
fi
echo "$out"
