#!/usr/bin/env bash
# The main job with real daemons on loopback: three lingualinkd with memory budgets that force a three-way split,
# `llctl load` of the real stories260K, then generations through the ring compared token for token with
# `llctl generate --local`: greedy (the known answer), eight concurrent sessions with different prompts and seeds,
# the fp16 wire; and a client killed mid-stream leaves no KV cache behind on any stage.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# The plan admits 8 generations at once: KV for 8 sessions on every stage. 2800000 B each: no two devices hold the
# model with that KV (6.5 MB), three do.
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 2800000B; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
EP=$(endpoint a)

"$LLCTL" --endpoint "$EP" load --max-sessions 8 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
stages=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"
echo "ok: loaded over $stages stages"

local_tokens() {  # PROMPT MAX [TEMP SEED]
  "$LLCTL" generate --local --model "$PKG" --json --max-tokens "$2" --temperature "${3:-0}" --seed "${4:-0}" "$1" | jq -c .tokens
}
cluster_tokens() {  # ENDPOINT PROMPT MAX [TEMP SEED]
  "$LLCTL" --endpoint "$1" generate --json --max-tokens "$3" --temperature "${4:-0}" --seed "${5:-0}" "$2" | jq -c .tokens
}

# Greedy from BOS: the known answer, through whichever daemon the client talks to.
out=$("$LLCTL" --endpoint "$(endpoint c)" generate --json --max-tokens 200 "")
want=$(local_tokens "" 200)
[[ $(jq -c .tokens <<<"$out") == "$want" ]] || fail "3-stage greedy differs from the local run"
jq -r .text <<<"$out" | grep -q "^Once upon a time, there was a little girl named Lily. She loved to play outside in the park." \
  || fail "not the known answer: $(jq -r .text <<<"$out" | head -c 200)"
echo "ok: greedy 200 tokens identical to the local run (the known answer)"

# Eight concurrent generations, different prompts and seeds, half of them sampled.
prompts=("Once upon a time" "Lily" "The dog" "Tom had a red ball" "One day" "Sue" "A bird" "The sun was hot")
for i in "${!prompts[@]}"; do
  temp=0; (( i % 2 )) && temp=0.8
  ( cluster_tokens "$EP" "${prompts[$i]}" 120 "$temp" $((100 + i)) >"$TMP/c$i.out" ) &
done
wait $(jobs -p | grep -v -w "$(printf '%s\n' "${PIDS[@]}")") 2>/dev/null || true
for i in "${!prompts[@]}"; do
  temp=0; (( i % 2 )) && temp=0.8
  [[ $(cat "$TMP/c$i.out") == "$(local_tokens "${prompts[$i]}" 120 "$temp" $((100 + i)))" ]] \
    || fail "concurrent session $i ('${prompts[$i]}', temperature $temp) differs from its local run"
done
echo "ok: 8 concurrent sessions each identical to their local run"

# Byte tokens that do not form UTF-8 (temperature 100 samples them often) print as U+FFFD on both paths, plain and
# --json: the local engine and the cluster share one TextStreamer, so the same tokens print the same bytes.
bytes_args=(--max-tokens 60 --temperature 100 --seed 7 "Once")
"$LLCTL" generate --local --model "$PKG" "${bytes_args[@]}" >"$TMP/bytes-local.out"
"$LLCTL" --endpoint "$EP" generate "${bytes_args[@]}" >"$TMP/bytes-cluster.out"
LC_ALL=C grep -q $'\xef\xbf\xbd' "$TMP/bytes-local.out" || fail "no U+FFFD in the sampled text: seed 7 no longer covers invalid UTF-8"
cmp -s "$TMP/bytes-local.out" "$TMP/bytes-cluster.out" \
  || fail "the same tokens print different bytes: local $(od -An -c "$TMP/bytes-local.out" | head -3) cluster $(od -An -c "$TMP/bytes-cluster.out" | head -3)"
local_json=$("$LLCTL" generate --local --model "$PKG" --json "${bytes_args[@]}" | jq -c '{tokens, text}')
cluster_json=$("$LLCTL" --endpoint "$EP" generate --json "${bytes_args[@]}" | jq -c '{tokens, text}')
[[ $local_json == "$cluster_json" ]] || fail "--json differs for invalid UTF-8: local $local_json cluster $cluster_json"
[[ $(jq -r .text <<<"$local_json") == "$(cat "$TMP/bytes-local.out")" ]] || fail "--json text is not the printed text"
echo "ok: tokens that are not valid UTF-8 print the same bytes locally and on the cluster (plain and --json)"

# A client killed mid-stream: every stage frees the session.
"$LLCTL" --endpoint "$EP" generate --max-tokens 400 "Once upon a time" >/dev/null 2>&1 &
client=$!
sleep 0.4
kill -9 $client; wait $client 2>/dev/null || true
deadline=$(($(now_ms) + 8000))
while :; do
  open=0
  for n in "${NAMES[@]}"; do
    o=$("$LLCTL" --endpoint "$(endpoint "$n")" plan --json | jq '.stage.open_sessions')
    open=$((open + ${o:-1}))
  done
  ((open == 0)) && break
  (($(now_ms) > deadline)) && fail "$open KV cache(s) left behind after the client died"
  sleep 0.2
done
echo "ok: killed client left no KV cache behind"

# The fp16 wire: identical for at least the first 100 tokens.
"$LLCTL" --endpoint "$EP" load --wire fp16 "$PKG" >"$TMP/load16.out" 2>&1 || { cat "$TMP/load16.out"; fail "fp16 load"; }
got=$(cluster_tokens "$EP" "Once upon a time" 100)
[[ $got == "$(local_tokens "Once upon a time" 100)" ]] || fail "fp16 wire differs within 100 tokens"
echo "ok: fp16 wire identical for 100 tokens"
