#!/usr/bin/env bash
# A mixed-architecture cluster on loopback, CURVE on: one x86-64 lingualinkd (a) and two aarch64 lingualinkd (b, c)
# under qemu-user, memory budgets that force a three-way split (as in pipeline_three_daemons), the real stories260K
# loaded over all three, then generations through the ring compared token for token with the x86-64 local run
# (`llctl generate --local`) and with the aarch64 local run: greedy from BOS (the known answer, 200 tokens), greedy
# from a prompt, and a sampled generation. Run by scripts/test-arm64: LL_BUILD_DIR = the amd64 build,
# LL_ARM64_BUILD_DIR = the emulated arm64 build folder (bin/ wraps the aarch64 binaries in qemu-aarch64).
source "$(dirname "$0")/../integration/lib/cluster.bash"
ARM=${LL_ARM64_BUILD_DIR:?}
ARM_LLD="$ARM/bin/lingualinkd"
ARM_LLCTL="$ARM/bin/llctl"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# 860000 B each: no two devices hold the model with its KV cache (1.9 MB), three do.
start_daemon a "$PEERS" --memory-budget 860000B
LLD=$ARM_LLD start_daemon b "$PEERS" --memory-budget 860000B
LLD=$ARM_LLD start_daemon c "$PEERS" --memory-budget 860000B
# An aarch64 daemon needs tens of seconds to start under qemu (libtorch's relocations and static initializers), more
# on a busy machine.
read -r leader term < <(wait_converged 300 "${NAMES[@]}")
[[ -n ${leader:-} ]] || fail "no leader"
echo "ok: converged, leader $leader (term $term)"
EP=$(endpoint a)
"$LLCTL" --endpoint "$EP" load "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
plan=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json)
stages=$(jq '.stages | length' <<<"$plan")
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages: $plan"
devs=$(jq -r '[.stages[] | (.device // .name // "?")] | join(",")' <<<"$plan" 2>/dev/null || echo "?")
echo "ok: loaded over $stages stages (devices in ring order: $devs)"
"$LLCTL" --endpoint "$(endpoint "$leader")" plan >"$TMP/plan.txt" 2>&1 || true
sed 's/^/  plan: /' "$TMP/plan.txt"

local_tokens() {  # LLCTL PROMPT MAX TEMP SEED
  "$1" generate --local --model "$PKG" --json --max-tokens "$3" --temperature "$4" --seed "$5" "$2" | jq -c .tokens
}
check() {  # check WHAT ENDPOINT PROMPT MAX TEMP SEED
  local what=$1 ep=$2 prompt=$3 max=$4 temp=$5 seed=$6 got x86 arm
  got=$("$LLCTL" --endpoint "$ep" generate --json --max-tokens "$max" --temperature "$temp" --seed "$seed" "$prompt" | jq -c .tokens)
  x86=$(local_tokens "$LLCTL" "$prompt" "$max" "$temp" "$seed")
  arm=$(local_tokens "$ARM_LLCTL" "$prompt" "$max" "$temp" "$seed")
  [[ -n $x86 && $x86 == "$arm" ]] || echo "note: $what: the aarch64 local run differs from the x86-64 local run"
  [[ -n $got && $got == "$x86" ]] || fail "$what: the mixed cluster differs from the x86-64 local run:
  cluster: $got
  x86-64:  $x86
  aarch64: $arm"
  echo "ok: $what: $(jq length <<<"$got") tokens identical to the x86-64 local run$([[ $x86 == "$arm" ]] && echo " and to the aarch64 local run")"
}
out=$("$LLCTL" --endpoint "$(endpoint c)" generate --json --max-tokens 200 "")
jq -r .text <<<"$out" | grep -q "^Once upon a time, there was a little girl named Lily. She loved to play outside in the park." \
  || fail "not the known answer: $(jq -r .text <<<"$out" | head -c 200)"
echo "ok: the known answer through an aarch64 daemon"
check "greedy from BOS, 200 tokens, via c (aarch64)" "$(endpoint c)" "" 200 0 0
check "greedy 'Once upon a time', 120 tokens, via a (x86-64)" "$EP" "Once upon a time" 120 0 0
check "sampled 0.8 seed 101 'Lily', 120 tokens, via b (aarch64)" "$(endpoint b)" "Lily" 120 0.8 101
