#!/usr/bin/env bash
# The reference oracle itself must reproduce the known answer of ../shared/models/README.md (greedy, no prompt,
# 200 positions on stories260K): if this fails, comparisons against run_ref prove nothing.
set -euo pipefail
src="${LL_SOURCE_DIR:?LL_SOURCE_DIR must point at the lingualinked checkout}"
models="$src/../shared/models"
for f in stories260K.bin tok512.bin; do
  [[ -f "$models/$f" ]] || { echo "FAIL: missing test model $models/$f (see shared/models/README.md)"; exit 1; }
done
run_ref="$(bash "$src/test/reference/build.sh")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$run_ref" "$models/stories260K.bin" "$models/tok512.bin" -n 200 >"$tmp/ids" 2>"$tmp/text"
expected="Once upon a time, there was a little girl named Lily. She loved to play outside in the park."
first_line="$(head -n 1 "$tmp/text")"
if [[ "$first_line" != "$expected"* ]]; then
  echo "FAIL: run_ref text does not begin with the known answer"
  echo "  expected prefix: $expected"
  echo "  got:             $first_line"
  exit 1
fi
# stdout: one id per line, all in the vocabulary, at most 200 (one per position).
count="$(wc -l <"$tmp/ids")"
if (( count < 20 || count > 200 )) || grep -qvE '^[0-9]+$' "$tmp/ids" || (( $(sort -n "$tmp/ids" | tail -n 1) >= 512 )); then
  echo "FAIL: run_ref printed $count malformed token ids"
  exit 1
fi
# --encode-only agrees with what generation forces for the same prompt.
prompt="Once upon a time"
"$run_ref" "$models/stories260K.bin" "$models/tok512.bin" --encode-only -i "$prompt" >"$tmp/enc"
"$run_ref" "$models/stories260K.bin" "$models/tok512.bin" -n "$(( $(wc -l <"$tmp/enc") - 1 ))" -i "$prompt" >"$tmp/forced" 2>/dev/null
if ! diff <(tail -n +2 "$tmp/enc") "$tmp/forced" >/dev/null; then
  echo "FAIL: --encode-only ids differ from the prompt tokens forced during generation"
  exit 1
fi
echo "PASS: $first_line"
