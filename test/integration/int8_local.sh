#!/usr/bin/env bash
# Int8 on one machine: stories260K exported with --quantize int8 generates with `llctl generate --local` (the
# known answer's opening, greedy), `llctl bench` names the quantized engine, and a package whose int8 scale is not
# a finite positive number (with a matching sha256, as a buggy exporter would write it) is refused in one line.
set -uo pipefail
build=${LL_BUILD_DIR:?}
src=${LL_SOURCE_DIR:?}
llctl=$build/bin/llctl
pkg=$build/models/stories260K-int8
models=${LL_MODELS_DIR:-$src/../shared/models}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

text=$("$llctl" generate --local --model "$pkg" --max-tokens 100 --json "" | jq -r .text) || fail "int8 generate"
[[ $text == "Once upon a time, there was a little girl named Lily."* ]] || fail "int8 greedy text: ${text:0:120}"
echo "ok: int8 greedy from BOS: ${text:0:80}..."
a=$("$llctl" generate --local --model "$pkg" --max-tokens 60 --temperature 0.8 --seed 5 --json "Lily" | jq -c .tokens)
b=$("$llctl" generate --local --model "$pkg" --max-tokens 60 --temperature 0.8 --seed 5 --json "Lily" | jq -c .tokens)
[[ $a == "$b" && $a != "[]" ]] || fail "seeded int8 sampling is not reproducible"
echo "ok: seeded int8 sampling reproducible"

"$llctl" bench --local --model "$pkg" --tokens 16 >"$tmp/bench" 2>&1 || { cat "$tmp/bench"; fail "bench"; }
grep -q "int8 engine \(onednn\|qnnpack\)" "$tmp/bench" || fail "bench does not name the int8 engine: $(cat "$tmp/bench")"
grep -q "weights *int8" "$tmp/bench" || fail "bench does not name the weight type: $(cat "$tmp/bench")"
echo "ok: bench: $(grep 'int8 engine' "$tmp/bench")"

for value in nan 0 -1; do
  cp -r "$pkg" "$tmp/bad-$value"
  /usr/bin/python3 "$src/test/exporter/corrupt_int8_scale.py" "$tmp/bad-$value" "$models/stories260K.bin" \
    "$models/tok512.bin" "$value" || fail "could not build the corrupt package"
  "$llctl" generate --local --model "$tmp/bad-$value" "x" >"$tmp/out" 2>"$tmp/err" && fail "scale $value accepted"
  [[ $(wc -l <"$tmp/err") == 1 ]] || fail "scale $value: not one line: $(cat "$tmp/err")"
  grep -q "shard-006-head.ptl: an int8 scale is not a finite positive number" "$tmp/err" \
    || fail "scale $value: $(cat "$tmp/err")"
done
echo "ok: corrupt int8 scales (nan, 0, -1) refused: $(cat "$tmp/err")"
