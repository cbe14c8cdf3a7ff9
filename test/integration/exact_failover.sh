#!/usr/bin/env bash
# Losing stages mid-generation changes nothing, under sampling, on a model big enough to show rounding (random512:
# dim 512, 12 layers, 150 MB): the survivors re-plan, the head replays every session with the shapes its positions
# had (docs/pipeline.md, "Exact replay"), and the text is token for token the local run's. Then losses one after
# another: every loss on any plan is planned around, each generation in flight finishes with the local run's tokens.
# The victim is killed once the head has produced a given number of tokens (an event, not a sleep).
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/random512"
PROMPT="The brave little robot"
[[ -f $PKG/manifest.json ]] || fail "$PKG missing (scripts/make-test-models)"

plan_of() { "$LLCTL" --endpoint "$1" plan --json; }
head_tokens() { plan_of "$1" | jq -r '.stage.tokens_generated // 0'; }
# wait_tokens LEADER_EP N: until the head's count of generated tokens reaches N (gives up after 5 minutes: a
# deadline against a hang, not a timing claim — a loaded machine may decode at a few tokens per second).
wait_tokens() {
  local ep=$1 want=$2 deadline=$(($(now_ms) + 300000))
  while (($(now_ms) < deadline)); do
    (($(head_tokens "$ep") >= want)) && return 0
    sleep 0.05
  done
  fail "the head did not reach $want tokens"
}
local_tokens() {  # local_tokens TEMPERATURE SEED
  "$LLCTL" generate --local --model "$PKG" --threads 1 --json --speculate off --max-tokens 300 --temperature "$1" --seed "$2" \
    "$PROMPT" | jq -c .tokens
}
stage_victim() {  # a device of the current plan other than the head
  plan_of "$1" | jq -r '[.stages[1:][] | .device][0]'
}
# generate_and_kill LEADER_EP TEMPERATURE SEED AFTER LABEL: kills a non-head stage once AFTER tokens are out.
generate_and_kill() {
  local ep=$1 temp=$2 seed=$3 after=$4 label=$5 base victim gen
  base=$(head_tokens "$ep")
  victim=$(stage_victim "$ep")
  [[ -n $victim && $victim != null ]] || fail "$label: the plan has no second stage: $(plan_of "$ep")"
  "$LLCTL" --endpoint "$ep" generate --json --max-tokens 300 --temperature "$temp" --seed "$seed" \
    --speculate "${SPECULATE:-off}" "$PROMPT" \
    >"$TMP/gen-$label.json" 2>"$TMP/gen-$label.err" &
  gen=$!
  wait_tokens "$ep" $((base + after))
  stop_daemon "$victim" KILL || true
  wait $gen || fail "$label: the generation failed: $(cat "$TMP/gen-$label.err")"
  plan_of "$ep" | jq -e --arg v "$victim" '[.stages[] | select(.device == $v)] | length == 0' >/dev/null ||
    fail "$label: $victim is still in the plan"
  local want got
  want=$(local_tokens "$temp" "$seed")
  got=$(jq -c .tokens "$TMP/gen-$label.json")
  [[ $(jq length <<<"$want") -gt $after ]] || fail "$label: the local run gave only $want"
  if [[ $got != "$want" ]]; then
    fail "$label: output differs from the local run (first difference at generated token $(jq -n --argjson a "$got" \
      --argjson b "$want" '[range(0; [$a, $b] | map(length) | min) | select($a[.] != $b[.])][0]'))"
  fi
  # Every device of the new plan had its shards on disk already (spares keep standby copies): nothing fetched.
  local v2 lines
  v2=$(plan_of "$ep" | jq -r .version)
  lines=$(grep -h "plan $v2: shards" "${CLUSTER_LOGS[@]}" || true)
  [[ -n $lines ]] && ! grep -qv "fetched 0 MB" <<<"$lines" || fail "$label: the failover fetched shards: $lines"
  if [[ ${SPECULATE:-off} != off ]]; then
    jq -e '.speculation.drafted > 0' "$TMP/gen-$label.json" >/dev/null ||
      fail "$label: the head drafted nothing: $(jq -c .speculation "$TMP/gen-$label.json")"
  fi
  echo "ok: $label: $(jq -c .speculation "$TMP/gen-$label.json"); killed $victim after $after tokens, $(jq length <<<"$got") tokens identical to" \
    "the local run; longest pause $(jq .timings.longest_pause_s "$TMP/gen-$label.json") s;" \
    "$(grep -ho 'replays [0-9]* tokens ([^)]*)' "${CLUSTER_LOGS[@]}" | tail -n 1)"
}

start_cluster() {  # start_cluster NAME...: daemons that each hold about half the model
  local names=("$@") peers n
  assign_ports "${names[@]}"
  peers=$(all_endpoints "${names[@]}")
  # PROFILE_SECONDS=0: identical default profiles, so the plan is the same on every run (two stages, the rest
  # spares) instead of following start-up measurements that vary 10x on a loaded machine.
  for n in "${names[@]}"; do
    PROFILE_SECONDS=0 start_daemon "$n" "$peers" --threads 1 --memory-budget 110MiB --no-rebalance
  done
  CLUSTER_LOGS=()
  for n in "${names[@]}"; do CLUSTER_LOGS+=("$TMP/$n.log"); done
  read -r LEADER term < <(wait_converged 30 "${names[@]}")
  LEP=$(endpoint "$LEADER")
  "$LLCTL" --endpoint "$LEP" load "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
  # Devices outside the ring keep copies of stages on disk: wait until they have them (an event in their logs).
  local spares=0 plan
  plan=$(plan_of "$LEP")
  for n in "${names[@]}"; do
    jq -e --arg n "$n" '[.stages[] | select(.device == $n)] | length == 0' <<<"$plan" >/dev/null || continue
    spares=$((spares + 1))
    wait_for_log "$TMP/$n.log" "standby: keeps" 60 || fail "spare $n did not report its standby copies"
  done
  ((spares > 0)) || fail "no spare device in $plan"
}

# One loss on three devices (two stages and a spare), temperature 0.8.
start_cluster a b c
generate_and_kill "$LEP" 0.8 11 90 "t0.8-seed11"
for n in a b c; do [[ -n ${PIDS[$n]:-} ]] && stop_daemon "$n" KILL; done

# Losses one after another on five devices, each on the plan the previous loss made: temperature 1.0, then 0.8 —
# speculating (n-gram drafts, docs/pipeline.md "Speculative decoding"): the head replays and drafts again, and the
# text is still the local run's without speculation.
SPECULATE=ngram
start_cluster p q r s t
generate_and_kill "$LEP" 1.0 5 120 "first-loss-t1.0-seed5"
# The second loss with a prompt of several prefill chunks (docs/pipeline.md, "Chunked prefill"): the replay sends the
# prompt in the chunks of its first run, which the local run uses too.
PROMPT=$(printf 'The brave little robot walked into the old library and found a map. %.0s' 1 2)
generate_and_kill "$LEP" 0.8 23 60 "second-loss-chunked-prompt-t0.8-seed23"
