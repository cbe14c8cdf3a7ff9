#!/usr/bin/env bash
# Garbage frames, a wrong protocol version, oversized messages and truncated tensor frames sent to a live daemon
# (the hidden [.hostile] cases of test_net): each gets an error reply or is dropped with a log line, the daemon stays
# up, and it keeps serving its peer and clients.
# Pins: a crash, a hang or a silent stop on hostile input.
source "$(dirname "$0")/lib/cluster.bash"

NAMES=(a b)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
echo "converged: leader $leader term $term"

LL_TARGET=$(endpoint a) LL_CLUSTER=$CLUSTER "$LL_BUILD_DIR/bin/test_net" "[.hostile]" || fail "hostile cases failed"

for n in "${NAMES[@]}"; do kill -0 "${PIDS[$n]}" 2>/dev/null || fail "$n died"; done
grep -q "refused message (unsupported_version)" "$TMP/a.log" || fail "no log line for the wrong version"
grep -q "refused message (bad_tensor_frame)" "$TMP/a.log" || fail "no log line for the truncated tensor frame"
sleep 1
read -r leader2 term2 < <(wait_converged 10 "${NAMES[@]}")
[[ $leader2 == "$leader" && $term2 == "$term" ]] || fail "cluster disturbed: $leader/$term -> $leader2/$term2"
echo "PASS"
