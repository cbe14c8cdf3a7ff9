#!/usr/bin/env bash
# Speculative decoding through a ring of three real daemons with a draft MODEL (lingualinkd --draft-model, a draft
# package of stories260K's first 4 blocks and its head, exported here with scripts/export-model --draft-layers 4):
# the head's default (--speculate draft) and an explicit --speculate draft:NAME both give token for token the local
# run without speculation, greedy and sampled, four sessions at once; the speculation figures show that drafted tokens
# stood; a draft model the head does not have is a one-line error.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
MODELS=${LL_MODELS_DIR:-$LL_SOURCE_DIR/../shared/models}
DRAFT="$TMP/stories260K-exit4"
/usr/bin/python3 "$LL_SOURCE_DIR/scripts/export-model" --quiet --from llama2c "$MODELS/stories260K.bin" \
  --tokenizer "$MODELS/tok512.bin" --draft-layers 4 --out "$DRAFT" || fail "draft export failed"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# Budgets that force three stages (as speculation_ring.sh); every daemon may become the head, so each has the draft.
for n in "${NAMES[@]}"; do
  start_daemon "$n" "$PEERS" --memory-budget 2800000B --no-rebalance --speculate draft --draft-model "$DRAFT"
done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
LEP=$(endpoint "$leader")
wait_for_log "$TMP/$leader.log" "draft model draft:stories260K-exit4" 10 || fail "the leader did not open the draft model"
"$LLCTL" --endpoint "$LEP" load --max-sessions 8 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
stages=$("$LLCTL" --endpoint "$LEP" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"

local_tokens() {  # PROMPT MAX TEMP SEED: the local engine, no speculation
  "$LLCTL" generate --local --model "$PKG" --json --speculate off --ignore-eos --max-tokens "$2" --temperature "$3" \
    --seed "$4" "$1" | jq -c .tokens
}
check_same() {  # LABEL JSON_FILE WANT
  [[ $(jq -c .tokens "$2") == "$3" ]] || fail "$1: differs from the local run without speculation"
}

# The head's default: a generation that does not choose drafts with the draft model.
"$LLCTL" --endpoint "$LEP" generate --json --ignore-eos --max-tokens 200 --temperature 0 "Once upon a time" \
  >"$TMP/default.json" || fail "generation with the head's default failed"
check_same "greedy, the head's default" "$TMP/default.json" "$(local_tokens "Once upon a time" 200 0 0)"
jq -e '.speculation.mode == "draft:stories260K-exit4" and .speculation.accepted > 0' "$TMP/default.json" \
  >/dev/null || fail "the head's default did not draft with the model: $(jq -c .speculation "$TMP/default.json")"
echo "ok: greedy 200 tokens with the head's default draft model = the local run; $(jq -c .speculation "$TMP/default.json")"

# Four at once, two sampled, asking for the draft model by name.
prompts=("Lily" "The dog" "Tom had a red ball" "One day")
pids=()
for i in "${!prompts[@]}"; do
  temp=0; ((i % 2)) && temp=0.8
  "$LLCTL" --endpoint "$LEP" generate --json --speculate draft:stories260K-exit4 --ignore-eos --max-tokens 120 \
    --temperature "$temp" --seed $((200 + i)) "${prompts[$i]}" >"$TMP/c$i.json" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent generation failed"; done
drafted=0
for i in "${!prompts[@]}"; do
  temp=0; ((i % 2)) && temp=0.8
  check_same "session $i ('${prompts[$i]}', temperature $temp)" "$TMP/c$i.json" \
    "$(local_tokens "${prompts[$i]}" 120 "$temp" $((200 + i)))"
  drafted=$((drafted + $(jq .speculation.drafted "$TMP/c$i.json")))
done
((drafted > 0)) || fail "four sessions: nothing was drafted"
echo "ok: 4 concurrent sessions (2 sampled) with draft:stories260K-exit4 = their local runs; $drafted tokens drafted"

# A draft model this head does not have: one line, non-zero.
rc=0
out=$("$LLCTL" --endpoint "$LEP" generate --speculate draft:stories260K-exit9 --max-tokens 5 "x" 2>&1 >/dev/null) || rc=$?
[[ $rc != 0 && $(wc -l <<<"$out") == 1 && $out == *"no draft model"* ]] || fail "unknown draft model: exit $rc: $out"
echo "ok: unknown draft model refused: $out"
echo "PASS"
