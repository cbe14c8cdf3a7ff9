#!/usr/bin/env bash
# Speculative decoding through a ring of three real daemons (docs/pipeline.md, "Speculative decoding"): with n-gram
# drafts, every generation is token for token the local run WITHOUT speculation — greedy (the known answer) and
# sampled, eight sessions at once (their drafted steps batched), and across a re-plan in mid-generation (the head
# replays the session, then drafts again). The JSON's speculation figures show drafts were made and accepted, so the
# comparison is not between two runs that never speculated. Losing a stage and losing the head while speculating are
# in exact_failover.sh and leader_loss.sh.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# Budgets that force three stages with 8 sessions' KV (as pipeline_three_daemons.sh); 0.3x speed so that a long
# generation is still running when the re-plan lands.
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 2800000B --emulate-speed 0.3 --no-rebalance; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
LEP=$(endpoint "$leader")
"$LLCTL" --endpoint "$LEP" load --max-sessions 8 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
stages=$("$LLCTL" --endpoint "$LEP" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"

local_tokens() {  # PROMPT MAX TEMP SEED [EXTRA...]: the local engine, no speculation
  "$LLCTL" generate --local --model "$PKG" --json --speculate off --max-tokens "$2" --temperature "$3" --seed "$4" \
    "${@:5}" "$1" | jq -c .tokens
}
cluster_json() {  # PROMPT MAX TEMP SEED [EXTRA...]
  "$LLCTL" --endpoint "$LEP" generate --json --speculate ngram --max-tokens "$2" --temperature "$3" --seed "$4" \
    "${@:5}" "$1"
}
check_same() {  # LABEL JSON_FILE WANT
  local got
  got=$(jq -c .tokens "$2")
  [[ $got == "$3" ]] || fail "$1: differs from the local run without speculation (first difference at token $(jq -n \
    --argjson a "$got" --argjson b "$3" '[range(0; [$a, $b] | map(length) | min) | select($a[.] != $b[.])][0]'))"
}

# Greedy from BOS: the known answer.
cluster_json "" 300 0 0 >"$TMP/greedy.json"
check_same greedy "$TMP/greedy.json" "$(local_tokens "" 300 0 0)"
jq -e '.speculation.accepted > 0 and .speculation.decode_steps < (.tokens | length)' "$TMP/greedy.json" >/dev/null ||
  fail "greedy: no drafted token was accepted: $(jq -c .speculation "$TMP/greedy.json")"
jq -r .text "$TMP/greedy.json" | grep -q "^Once upon a time, there was a little girl named Lily." ||
  fail "not the known answer: $(jq -r .text "$TMP/greedy.json" | head -c 200)"
echo "ok: greedy 300 tokens identical to the local run; $(jq -c .speculation "$TMP/greedy.json")"

# Eight at once, half sampled: drafted steps of several sessions share a forward pass.
prompts=("Once upon a time" "Lily" "The dog" "Tom had a red ball" "One day" "Sue" "A bird" "The sun was hot")
pids=()
for i in "${!prompts[@]}"; do
  temp=0; ((i % 2)) && temp=0.8
  cluster_json "${prompts[$i]}" 160 "$temp" $((100 + i)) --ignore-eos >"$TMP/c$i.json" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent generation failed"; done
accepted=0
for i in "${!prompts[@]}"; do
  temp=0; ((i % 2)) && temp=0.8
  check_same "session $i ('${prompts[$i]}', temperature $temp)" "$TMP/c$i.json" \
    "$(local_tokens "${prompts[$i]}" 160 "$temp" $((100 + i)) --ignore-eos)"
  accepted=$((accepted + $(jq .speculation.accepted "$TMP/c$i.json")))
done
((accepted > 0)) || fail "eight sessions: no drafted token was accepted"
batched=$(for n in "${NAMES[@]}"; do "$LLCTL" --endpoint "$(endpoint "$n")" plan --json | jq .stage.batched_steps; done |
  paste -sd+ | bc)
((batched > 0)) || fail "eight sessions: no step ran in a batch"
echo "ok: 8 concurrent sessions (4 sampled) identical to their local runs; $accepted drafted tokens accepted"

# A re-plan in mid-generation (a new load of the same package, equal split): the head replays the session on the
# new ring and goes on drafting; the text is the undisturbed local run's. The load starts once the stream has (an
# event: tail -F wakes on the write), and the generation must still be running when the new plan is in force.
"$LLCTL" --endpoint "$LEP" generate --speculate ngram --ignore-eos --max-tokens 500 --temperature 0.8 --seed 9 \
  "Once upon a time" >"$TMP/replan.out" 2>"$TMP/replan.err" &
gen=$!
timeout 60 head -c 200 < <(tail -c +1 -F "$TMP/replan.out" 2>/dev/null) >/dev/null || fail "the stream did not start"
"$LLCTL" --endpoint "$LEP" load --policy equal --max-sessions 8 "$PKG" >"$TMP/load2.out" 2>&1 ||
  fail "re-plan load: $(cat "$TMP/load2.out")"
head_log="$TMP/$("$LLCTL" --endpoint "$LEP" plan --json | jq -r '.stages[0].device').log"
wait_for_log "$head_log" "replays" 60 || fail "the head replayed no session on the new plan"
wait $gen || fail "the generation failed across the re-plan: $(cat "$TMP/replan.err")"
want=$("$LLCTL" generate --local --model "$PKG" --speculate off --ignore-eos --max-tokens 500 --temperature 0.8 \
  --seed 9 "Once upon a time")
[[ $(cat "$TMP/replan.out") == "$want" ]] || fail "the text across the re-plan differs from the local run"
echo "ok: 500 sampled tokens across a re-plan identical to the local run ($(grep -ho 'replays [0-9]* tokens' "$head_log" | tail -n 1))"
