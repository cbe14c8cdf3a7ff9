#!/usr/bin/env bash
# Chunked prefill with real daemons (docs/pipeline.md, "Chunked prefill"): three lingualinkd on loopback split
# random512 (dim 512, 12 layers) three ways and cut prompts into chunks of 32 tokens. A prompt of many chunks gives
# token for token what `llctl generate --local` gives with the same chunk size; and a session that was decoding when
# the long prompt arrived keeps decoding while the prompt's chunks pass: in the middle stage's log (one thread writes
# it, so its order is the order of the computations) its decode steps come between the prompt's first and last chunk.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/random512"
[[ -f $PKG/manifest.json ]] || fail "$PKG missing (scripts/make-test-models)"
CHUNK=32
SHORT="The brave little robot"
LONG=$(for _ in $(seq 1 4); do printf 'Once upon a time there was a little girl named Lily who liked to play. '; done)

NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# 75 MiB each: a stage's weights (~50 MB) and the KV of two sessions fit, two devices cannot hold the model.
for n in "${NAMES[@]}"; do
  PROFILE_SECONDS=0 start_daemon "$n" "$PEERS" --threads 1 --memory-budget 75MiB --no-rebalance \
    --prefill-chunk "$CHUNK" --log-level debug
done
read -r leader term < <(wait_converged 30 "${NAMES[@]}")
EP=$(endpoint "$leader")
"$LLCTL" --endpoint "$EP" load --max-sessions 2 "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
plan=$("$LLCTL" --endpoint "$EP" plan --json)
[[ $(jq '.stages | length' <<<"$plan") == 3 ]] || fail "expected a three-stage plan: $plan"
head=$(jq -r '.stages[0].device' <<<"$plan")
middle=$(jq -r '.stages[1].device' <<<"$plan")
echo "ok: random512 over three stages (head $head, middle $middle), chunks of $CHUNK tokens"

local_json() {  # PROMPT MAX
  "$LLCTL" generate --local --model "$PKG" --threads 1 --prefill-chunk "$CHUNK" --json --max-tokens "$2" "$1"
}

# The long prompt alone: many chunks, the local run's tokens.
"$LLCTL" --endpoint "$EP" generate --json --max-tokens 20 "$LONG" >"$TMP/long1.json" || fail "long generation failed"
prompt_tokens=$(jq '.prompt_tokens | length' "$TMP/long1.json")
((prompt_tokens > 6 * CHUNK)) || fail "the long prompt is only $prompt_tokens tokens"
want_long=$(local_json "$LONG" 20 | jq -c .tokens)
[[ $(jq -c .tokens "$TMP/long1.json") == "$want_long" ]] || fail "the chunked prompt's tokens differ from the local run"
echo "ok: a prompt of $prompt_tokens tokens ($(((prompt_tokens + CHUNK - 1) / CHUNK)) chunks) gives the local run's tokens"

# A short session decodes; once it has made a few steps, the long prompt arrives.
"$LLCTL" --endpoint "$EP" generate --json --ignore-eos --max-tokens 200 "$SHORT" >"$TMP/short.json" 2>"$TMP/short.err" &
short_pid=$!
wait_for_log_count "$TMP/$head.log" "session [0-9]* admitted" 2 60 || fail "the short session was not admitted"
short_id=$(grep -o "session [0-9]* admitted" "$TMP/$head.log" | tail -1 | awk '{print $2}')
wait_for_log_count "$TMP/$middle.log" "computed session $short_id positions" 8 120 \
  || fail "the short session made no decode steps"
"$LLCTL" --endpoint "$EP" generate --json --max-tokens 10 "$LONG" >"$TMP/long2.json" || fail "the long generation failed"
wait "$short_pid" || fail "the short generation failed: $(cat "$TMP/short.err")"
long_id=$(grep -o "session [0-9]* admitted" "$TMP/$head.log" | tail -1 | awk '{print $2}')
[[ $long_id != "$short_id" ]] || fail "no second session in the head's log"

# In the middle stage's log: the long session's chunk lines (positions a..b with b > a), and the short session's
# decode lines between the first and the last of them.
grep "computed session" "$TMP/$middle.log" >"$TMP/middle.steps"
first=$(grep -n "computed session $long_id positions 0\.\." "$TMP/middle.steps" | head -1 | cut -d: -f1)
last=$(grep -n "computed session $long_id positions $(((prompt_tokens - 1) / CHUNK * CHUNK))\.\." "$TMP/middle.steps" | head -1 | cut -d: -f1)
[[ -n $first && -n $last ]] || fail "the long prompt's first or last chunk is not in the middle stage's log"
chunk_lines=$(sed -n "${first},${last}p" "$TMP/middle.steps" | grep -c "computed session $long_id positions")
((chunk_lines == (prompt_tokens + CHUNK - 1) / CHUNK)) \
  || fail "expected $(((prompt_tokens + CHUNK - 1) / CHUNK)) chunks at the middle stage, saw $chunk_lines"
between=$(sed -n "${first},${last}p" "$TMP/middle.steps" | grep -c "computed session $short_id positions")
((between >= 2)) || fail "the short session made $between decode steps while the long prompt's $chunk_lines chunks passed"
echo "ok: the short session made $between decode steps while the long prompt's $chunk_lines chunks crossed the middle stage"

# Both generations are still the local run's.
[[ $(jq -c .tokens "$TMP/long2.json") == "$(local_json "$LONG" 10 | jq -c .tokens)" ]] \
  || fail "the long prompt's tokens differ from the local run when it shares the ring"
want_short=$("$LLCTL" generate --local --model "$PKG" --threads 1 --prefill-chunk "$CHUNK" --json --ignore-eos \
  --max-tokens 200 "$SHORT" | jq -c .tokens)
[[ $(jq -c .tokens "$TMP/short.json") == "$want_short" ]] || fail "the short session's tokens differ from the local run"
echo "ok: both sessions give the local run's tokens"
