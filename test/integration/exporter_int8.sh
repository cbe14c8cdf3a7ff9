#!/usr/bin/env bash
# Int8 export: every source, every engine, row independence, one-line errors (test/exporter/test_int8.py).
set -euo pipefail
exec /usr/bin/python3 -W ignore::ResourceWarning "${LL_SOURCE_DIR:?}/test/exporter/test_int8.py"
