#!/usr/bin/env bash
# Cost-model calibration with real daemons (docs/placement.md, "Calibration"): three lingualinkd split stories260K
# three ways; before any token the plan is predicted from the start-up profile; after one generation longer than the
# calibration window (4 warm-up + 16 one-stream decode steps) the leader's `llctl plan --json` reports a calibrated
# prediction whose stage compute times are the observed ones (to 1e-6 ms) and whose one-stream figure is the sum of
# its stage times. A plan of another policy loaded afterwards is predicted from the calibrated numbers at once.
# Consistency only: no speed is asserted.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# 2800000 B each with KV for 8 sessions: no two devices hold the model, three do (as in pipeline_three_daemons).
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 2800000B; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
LEP=$(endpoint "$leader")

"$LLCTL" --endpoint "$LEP" load --max-sessions 8 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
before=$("$LLCTL" --endpoint "$LEP" plan --json)
[[ $(jq '.stages | length' <<<"$before") == 3 ]] || fail "expected a three-stage plan: $(jq -c .stages <<<"$before")"
[[ $(jq -r .prediction_source <<<"$before") == "start-up profile" ]] ||
  fail "predicted from '$(jq -r .prediction_source <<<"$before")' before any token"
[[ $(jq .calibration.plan_calibrated <<<"$before") == false ]] || fail "calibrated before any token"
echo "before: $(jq .predicted_s_per_token*1000 <<<"$before") ms/token from the start-up profile"

# One generation: a prefill, then 39 one-stream decode steps (the window needs 20). The head calibrates before it
# streams a token, so the plan is calibrated when the generation has returned.
"$LLCTL" --endpoint "$LEP" generate --json --ignore-eos --max-tokens 40 "Once upon a time" >"$TMP/gen.json" ||
  fail "the generation failed"
after=$("$LLCTL" --endpoint "$LEP" plan --json)
source_after=$(jq -r .prediction_source <<<"$after")
[[ $source_after == "calibrated from 16 one-stream decode steps of this plan" ]] ||
  fail "after 39 decode steps the prediction is from '$source_after': $(jq -c .calibration <<<"$after")"
[[ $(jq .version <<<"$after") == $(jq .version <<<"$before") ]] || fail "calibration changed the plan"
# Each stage's predicted compute is its observed median over the window, per device.
jq -e '[range(0; .stages | length) as $i
        | ((.stages[$i].compute_s * 1000) - .calibration.stage_observed_ms[$i]) | fabs < 1e-6] | all' <<<"$after" \
  >/dev/null || fail "stage compute differs from the observed: $(jq -c '[.stages[].compute_s]' <<<"$after") vs \
$(jq -c .calibration.stage_observed_ms <<<"$after")"
jq -e '.calibration.stage_observed_ms | all(. > 0)' <<<"$after" >/dev/null || fail "a stage was never observed"
# The one-stream prediction is the sum of the stage times (compute, links with the hop overhead, the head's step).
jq -e '((.stages | map(.time_s) | add) - .one_stream_s_per_token) | fabs < 1e-9' <<<"$after" >/dev/null ||
  fail "one-stream prediction is not the sum of its stages: $(jq -c . <<<"$after")"
# The prediction is the observed token interval (unless the links hit the floor of their scaling, 1% of the probes).
if jq -e '.calibration.link_factor > 0.01' <<<"$after" >/dev/null; then
  jq -e '(.one_stream_s_per_token * 1000 - .calibration.token_interval_ms) | fabs < 1e-6' <<<"$after" >/dev/null ||
    fail "one-stream prediction $(jq .one_stream_s_per_token <<<"$after") s is not the observed interval \
$(jq .calibration.token_interval_ms <<<"$after") ms"
fi
[[ $(jq .planned_s_per_token <<<"$after") == $(jq .planned_s_per_token <<<"$before") ]] ||
  fail "the prediction the plan was made with changed"
"$LLCTL" --endpoint "$LEP" plan | grep -q "^prediction calibrated from 16 one-stream decode steps of this plan" ||
  fail "llctl plan does not say where its prediction comes from: $("$LLCTL" --endpoint "$LEP" plan)"
echo "after: $(jq .predicted_s_per_token*1000 <<<"$after") ms/token calibrated" \
  "(observed token interval $(jq .calibration.token_interval_ms <<<"$after") ms," \
  "hop overhead $(jq .hop_overhead_s*1000 <<<"$after") ms)"

# A plan of another policy is priced from the calibrated speeds before its own window has run.
"$LLCTL" --endpoint "$LEP" load --max-sessions 8 --policy equal "$PKG" >"$TMP/load2.out" 2>&1 ||
  { cat "$TMP/load2.out"; fail "llctl load --policy equal"; }
other=$("$LLCTL" --endpoint "$LEP" plan --json)
[[ $(jq -r .prediction_source <<<"$other") == "calibrated from 16 one-stream decode steps of an earlier plan" ]] ||
  fail "a new plan of the same model is predicted from '$(jq -r .prediction_source <<<"$other")'"
jq -e '.hop_overhead_s == $h' --argjson h "$(jq .hop_overhead_s <<<"$after")" <<<"$other" >/dev/null ||
  fail "the new plan lost the calibrated hop overhead"
echo "ok: calibrated prediction matches the observed stage times; a later plan starts from them"
