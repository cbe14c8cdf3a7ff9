#!/usr/bin/env bash
# Runtime load balancing with real daemons: three lingualinkd generate a long text; one stage device is slowed to
# 0.002x mid-run (llctl device NAME --emulate-speed). Emulation stretches only the compute a step really does, and a
# stories260K step computes for well under a millisecond beside a few milliseconds of fixed per-step cost: at 0.01x
# the victim's steps took only ~1.8x as long, within this shared machine's noise (a CI run missed it). At 0.002x
# they take several times as long, so the gain clears the 20% threshold under load too; within a bounded number of tokens the leader re-plans and moves
# layers off it, the generation continues, and the output is identical to the local run. Re-plans are counted: one
# slowdown must not cause a storm of them.
# No compute profile: every device is planned at the same default speed, so the plan does not depend on how busy the
# machine was while profiling; what the leader learns about speed, it learns from the observed step times.
PROFILE_SECONDS=0
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# Budgets that need two devices (1.9 MB model + KV cache) and leave room to move layers around. All run at 0.2x so
# that a 500-token generation lasts long enough to watch.
for n in "${NAMES[@]}"; do
  start_daemon "$n" "$PEERS" --memory-budget 1300000B --emulate-speed 0.2 --rebalance-cooldown 1
done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
LEP=$(endpoint "$leader")
"$LLCTL" --endpoint "$LEP" load "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
plan=$("$LLCTL" --endpoint "$LEP" plan --json)
version=$(jq .version <<<"$plan")
# The stage to slow: a stage device other than the head (the leader).
victim=$(jq -r --arg l "$leader" '[.stages[] | select(.device != $l)][0].device' <<<"$plan")
[[ -n $victim && $victim != null ]] || fail "no non-head stage in $(jq -c .stages <<<"$plan")"
layers_before=$(jq --arg v "$victim" '[.stages[] | select(.device == $v) | .last_shard - .first_shard + 1] | add' <<<"$plan")
echo "plan $version: $(jq -c '[.stages[] | {device, first_shard, last_shard}]' <<<"$plan"); slowing $victim"

"$LLCTL" --endpoint "$LEP" generate --json --ignore-eos --max-tokens 500 "Once upon a time" >"$TMP/gen.json" &
gen=$!
sleep 1.0
slowed_at=$("$LLCTL" --endpoint "$LEP" plan --json | jq '.stage.tokens_generated')  # a lower bound
"$LLCTL" --endpoint "$LEP" device "$victim" --emulate-speed 0.002 || fail "could not slow $victim"
wait $gen || fail "the generation failed"

after=$("$LLCTL" --endpoint "$LEP" plan --json)
replans=$(jq '[.replans[] | select(.applied == true)] | length' <<<"$after")
kept=$(jq '[.replans[] | select(.applied != true)] | length' <<<"$after")
echo "re-plans: $replans applied, $kept considered and kept; $(jq -r '.replans[0].reason // "none"' <<<"$after")"
((replans >= 1)) || fail "no re-plan after slowing $victim: $(jq -c .replans <<<"$after")"
# A storm is re-plans applied one after another. A decision considered and kept costs one solve and changes nothing;
# on this shared machine, stages' times wander by a third under load and a few such decisions are normal (a CI run:
# 3 kept, at 61-63% of the planned speed, beside the one applied). Many of them would mean the baselines are wrong.
((replans <= 2)) || fail "re-plan storm: $replans applied, $kept considered"
((kept <= 6)) || fail "too many re-plans considered: $replans applied, $kept considered and kept"
replanned_at=$(jq '[.replans[] | select(.applied == true)][0].head_tokens_generated' <<<"$after")
echo "slowed after head token $slowed_at, re-planned at head token $replanned_at (at most $((replanned_at - slowed_at)) tokens later)"
# The bound covers llctl's own start-up between the two readings, the detection window and the new plan's load.
((replanned_at - slowed_at <= 250)) || fail "re-planned only $((replanned_at - slowed_at)) tokens after the slowdown"
layers_after=$(jq --arg v "$victim" '[.stages[] | select(.device == $v) | .last_shard - .first_shard + 1] | add // 0' <<<"$after")
((layers_after < layers_before)) || fail "$victim still holds $layers_after shards (had $layers_before)"
echo "$victim: $layers_before shards before, $layers_after after"

want=$("$LLCTL" generate --local --model "$PKG" --json --ignore-eos --max-tokens 500 "Once upon a time" | jq -c .tokens)
[[ $(jq -c .tokens "$TMP/gen.json") == "$want" ]] || fail "output differs from the undisturbed local run"
echo "ok: 500 tokens identical to the local run across the re-plan"
