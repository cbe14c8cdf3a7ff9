#!/usr/bin/env bash
# Accuracy of int8 on the real stories260K (an accuracy bound, not a speed bound): over at least 10,000 positions of
# stories sampled from the fp32 model with fixed seeds (scripts/make-eval-corpus), the int8 export's next-token
# distributions are within the goals of issue 14: mean KL <= 0.005 nats, top-1 agreement >= 0.97, perplexity within
# 1 % of fp32.
set -uo pipefail
build=${LL_BUILD_DIR:?}
src=${LL_SOURCE_DIR:?}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

LLCTL=$build/bin/llctl "$src/scripts/make-eval-corpus" "$build/models/stories260K" "$tmp/corpus.txt" 80 \
  || fail "make-eval-corpus"
"$build/bin/llctl" eval --model "$build/models/stories260K-int8" --reference "$build/models/stories260K" \
  --text "$tmp/corpus.txt" --json >"$tmp/eval.json" || fail "llctl eval"
jq -c '{positions, mean_kl, top1_agreement, perplexity, reference_perplexity, perplexity_change}' "$tmp/eval.json"
jq -e '.positions >= 10000' "$tmp/eval.json" >/dev/null || fail "fewer than 10,000 positions"
jq -e '.mean_kl <= 0.005' "$tmp/eval.json" >/dev/null || fail "mean KL above 0.005 nats"
jq -e '.top1_agreement >= 0.97' "$tmp/eval.json" >/dev/null || fail "top-1 agreement below 0.97"
jq -e '(.perplexity_change | fabs) <= 0.01' "$tmp/eval.json" >/dev/null || fail "perplexity more than 1 % off fp32"
# The reference against itself: exactly zero divergence (the command measures what it says).
"$build/bin/llctl" eval --model "$build/models/stories260K" --reference "$build/models/stories260K" \
  --text "$tmp/corpus.txt" --max-positions 500 --json >"$tmp/self.json" || fail "llctl eval (self)"
jq -e '.mean_kl == 0 and .top1_agreement == 1 and .perplexity_change == 0' "$tmp/self.json" >/dev/null \
  || fail "fp32 against itself is not exactly zero: $(cat "$tmp/self.json")"
echo "ok: int8 within the accuracy goals; fp32 against itself exactly zero"
