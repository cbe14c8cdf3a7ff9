#!/usr/bin/env bash
# The head is a decision of the solver, not of the election: the leader is made the slowest device (it reports a
# twentieth of its speed, --emulate-speed 0.05, and it wins the election because its election timeout is the
# shortest), yet the plan puts the head — tokenizer, sampling, the first layers — on a fast device, says so in its
# note, and the text streamed through it equals the local run; the head sends its step figures to the leader, which
# calibrates the plan from them. Pins: a slow phone elected leader had to hold stage 0.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(slow b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
timeouts() {  # MIN_MS MAX_MS: a config file with these election timeouts
  echo "{\"election_timeout_min_ms\": $1, \"election_timeout_max_ms\": $2}" >"$TMP/election-$1.json"
  echo "$TMP/election-$1.json"
}
# b and c would elect one of themselves only after 5 s; slow campaigns after 0.3-0.4 s and wins. Budgets: any device
# could hold the model alone.
HB=(--heartbeat-interval-ms 100 --heartbeat-timeout-ms 1500 --no-rebalance --choose-head)  # one plan: no re-plan from noise
for n in b c; do start_daemon "$n" "$PEERS" "${HB[@]}" --memory-budget 4000000B --config "$(timeouts 5000 6000)"; done
start_daemon slow "$PEERS" "${HB[@]}" --memory-budget 4000000B --emulate-speed 0.05 --config "$(timeouts 300 400)"
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
[[ $leader == slow ]] || fail "expected the slow device to win the election, $leader did"
LEP=$(endpoint slow)
"$LLCTL" --endpoint "$LEP" load "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
plan=$("$LLCTL" --endpoint "$LEP" plan --json)
head=$(jq -r '.stages[0].device' <<<"$plan")
echo "leader slow; plan $(jq -c '[.stages[] | {device, first_shard, last_shard}]' <<<"$plan"); note: $(jq -r .note <<<"$plan")"
[[ $head != slow ]] || fail "the slow leader holds the head: $(jq -c .stages <<<"$plan")"
jq -r .note <<<"$plan" | grep -q "head $head chosen over slow" || fail "the plan's note does not say the head moved"

# The client asks any device where the head is; through the leader and through the third device alike.
want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
for via in slow c; do
  got=$("$LLCTL" --endpoint "$(endpoint $via)" generate --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
  [[ $got == "$want" ]] || fail "via $via: the text differs from the local run"
done
echo "ok: head on $head, not on the slow leader; text equals the local run"

# Load balancing and calibration live on the leader; the head sends it each step's figures (step_stats), so the
# leader calibrates a plan whose head is elsewhere. Before the fix it never did: "start-up profile" for ever.
source_now=$("$LLCTL" --endpoint "$LEP" plan --json | jq -r .prediction_source)
[[ $source_now == "calibrated from "* ]] ||
  fail "the leader did not calibrate from the head's steps: prediction from '$source_now'"
echo "ok: the leader calibrated from the head's steps: $source_now"
