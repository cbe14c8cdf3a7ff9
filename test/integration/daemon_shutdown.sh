#!/usr/bin/env bash
# SIGTERM and SIGINT stop a daemon cleanly (exit 0); its peers are told ('bye'), so they drop it from the quorum at
# once and, if it led, elect a new leader faster than the heartbeat timeout.
# Pins: non-zero exit or a hang on SIGTERM, peers waiting for the timeout after a clean shutdown.
source "$(dirname "$0")/lib/cluster.bash"

NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
rest=()
for n in "${NAMES[@]}"; do [[ $n != "$leader" ]] && rest+=("$n"); done

start=$(now_ms)
stop_daemon "$leader" TERM || fail "leader $leader exited non-zero on SIGTERM"
took=$(($(now_ms) - start))
((took < 3000)) || fail "SIGTERM took $took ms"
grep -q "stopped" "$TMP/$leader.log" || fail "no clean stop in the log"
read -r new newterm < <(wait_converged 10 "${rest[@]}")
((newterm > term)) || fail "term did not grow"
stamp=$(grep "term $newterm: elected leader" "$TMP/$new.log" | tail -n 1 | cut -d' ' -f1)
elected=$(date -u -d "$(date -u +%F) $stamp" +%s%3N)
echo "leader $leader stopped in $took ms; $new elected $((elected - start)) ms after SIGTERM"
((elected - start < 2000)) || fail "election after a clean leader shutdown took $((elected - start)) ms"

stop_daemon "${rest[0]}" INT || fail "${rest[0]} exited non-zero on SIGINT"
echo "PASS"
