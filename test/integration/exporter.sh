#!/usr/bin/env bash
# The exporter's own tests (Python, Debian's torch): bad input, and every source format exporting the same model.
set -euo pipefail
exec /usr/bin/python3 -W ignore::ResourceWarning "${LL_SOURCE_DIR:?}/test/exporter/test_exporter.py"
