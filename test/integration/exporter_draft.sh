#!/usr/bin/env bash
# Draft packages for speculative decoding (--draft-layers N): an early exit of the same checkpoint, one-line errors.
set -euo pipefail
exec /usr/bin/python3 -W ignore::ResourceWarning "${LL_SOURCE_DIR:?}/test/exporter/test_draft.py"
