#!/usr/bin/env bash
# Int8 through the cluster: three lingualinkd with budgets that force a three-way split of the int8 stories260K
# (442 KB of weights + 655 KB of KV cache), then generations through the ring compared token for token with
# `llctl generate --local` of the same int8 package: greedy (200 tokens from BOS) and four concurrent sessions,
# greedy and seeded sampling. Then a stage device is killed mid-generation: the survivors and a spare re-plan, the
# head replays the session, and the text is the local run's.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K-int8"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# The plan admits 4 generations at once: KV for 4 sessions on every stage. 1300000 B each: no two devices hold the
# model with that KV (3.1 MB), three do.
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 1300000B; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
EP=$(endpoint a)

"$LLCTL" --endpoint "$EP" load --max-sessions 4 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
stages=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"
echo "ok: int8 loaded over $stages stages"
engines=$(devices_json a | jq -r '[.devices[].profile.quantized_engine] | unique | join(",")')
[[ $engines == onednn || $engines == qnnpack ]] || fail "llctl devices does not name one quantized engine: '$engines'"
"$LLCTL" --endpoint "$EP" devices | grep -q "INT8" || fail "llctl devices has no INT8 column"
echo "ok: every device reports the $engines quantized engine"

local_tokens() {  # PROMPT MAX [TEMP SEED]
  "$LLCTL" generate --local --model "$PKG" --json --max-tokens "$2" --temperature "${3:-0}" --seed "${4:-0}" "$1" | jq -c .tokens
}
cluster_tokens() {  # ENDPOINT PROMPT MAX [TEMP SEED]
  "$LLCTL" --endpoint "$1" generate --json --max-tokens "$3" --temperature "${4:-0}" --seed "${5:-0}" "$2" | jq -c .tokens
}

got=$(cluster_tokens "$(endpoint c)" "" 200)
[[ $got == "$(local_tokens "" 200)" ]] || fail "3-stage int8 greedy differs from the local int8 run"
echo "ok: greedy 200 tokens identical to the local int8 run"

prompts=("Once upon a time" "Lily" "The dog" "Tom had a red ball")
jobs_started=()
for i in "${!prompts[@]}"; do
  temp=0; (( i % 2 )) && temp=0.8
  ( cluster_tokens "$EP" "${prompts[$i]}" 120 "$temp" $((100 + i)) >"$TMP/c$i.out" ) &
  jobs_started+=($!)
done
wait "${jobs_started[@]}"
for i in "${!prompts[@]}"; do
  temp=0; (( i % 2 )) && temp=0.8
  [[ $(cat "$TMP/c$i.out") == "$(local_tokens "${prompts[$i]}" 120 "$temp" $((100 + i)))" ]] \
    || fail "concurrent int8 session $i ('${prompts[$i]}', temperature $temp) differs from its local run"
done
echo "ok: 4 concurrent int8 sessions (greedy and sampled) each identical to their local run"

# Losing a stage device mid-generation: a spare joins, the leader re-plans, the head replays the session.
for n in "${NAMES[@]}"; do stop_daemon "$n" KILL || true; done
NAMES=(p q r s)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 500000B --emulate-speed 0.2 --no-rebalance; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
lep=$(endpoint "$leader")
"$LLCTL" --endpoint "$lep" load "$PKG" >"$TMP/load2.out" 2>&1 || fail "load: $(cat "$TMP/load2.out")"
victim=$("$LLCTL" --endpoint "$lep" plan --json | jq -r --arg l "$leader" '.stages[0].device as $head | [.stages[] | select(.device != $l and .device != $head)][0].device')
"$LLCTL" --endpoint "$lep" generate --ignore-eos --max-tokens 300 --temperature 0.8 --seed 11 "Once upon a time" \
  >"$TMP/gen.txt" 2>"$TMP/gen.err" &
gen=$!
# kill the victim once the stream has started (at least 40 bytes of text), not after a guessed delay
deadline=$(($(now_ms) + 30000))
while (( $(stat -c %s "$TMP/gen.txt") < 40 )); do
  (( $(now_ms) < deadline )) || fail "the int8 stream did not start"
  kill -0 $gen 2>/dev/null || fail "the generation ended early: $(cat "$TMP/gen.err")"
  sleep 0.05
done
stop_daemon "$victim" KILL || true
wait $gen || fail "the generation failed after losing $victim: $(cat "$TMP/gen.err")"
want=$("$LLCTL" generate --local --model "$PKG" --ignore-eos --max-tokens 300 --temperature 0.8 --seed 11 "Once upon a time")
[[ $(cat "$TMP/gen.txt") == "$want" ]] || fail "int8 output after losing $victim differs from the local run"
cat "$TMP"/*.log | grep -q "replays" || fail "no session was replayed: $victim was lost after the generation ended"
echo "ok: int8 generation identical to the local run after losing $victim (replayed on the new plan)"
