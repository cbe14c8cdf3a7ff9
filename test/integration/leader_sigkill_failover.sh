#!/usr/bin/env bash
# SIGKILL the leader of three daemons (default timings: heartbeat 1 s, timeout 3 s): the survivors elect a new
# leader with a higher term within 3 s; the old leader, restarted with its data directory, follows without
# disturbing the cluster. Repeated ROUNDS times; prints each measured failover time.
# Pins: slow failover, a returning old leader reclaiming leadership or forcing a new term.
source "$(dirname "$0")/lib/cluster.bash"
ROUNDS=${ROUNDS:-3}
# The goal is under 3 s with default timings (measured 0.9-2.1 s, printed each round). A split vote on a loaded shared
# machine costs one more election timeout, so the assertion guards against regressions (e.g. waiting for the 3 s
# dead-timeout and then some) rather than against noise: timing claims are measured, not asserted tightly.
LIMIT_MS=${LIMIT_MS:-6000}

NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
sleep 1.3  # kill at an arbitrary point between heartbeats

times=()
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round: leader $leader term $term"
  survivors=()
  for n in "${NAMES[@]}"; do [[ $n != "$leader" ]] && survivors+=("$n"); done
  killed_at=$(now_ms)
  stop_daemon "$leader" KILL || true
  # Agreement is checked with llctl (slow to start: it loads libtorch), the time from the new leader's log line.
  new=""
  while (($(now_ms) - killed_at < 15000)); do
    s1=$(status_json "${survivors[0]}"); s2=$(status_json "${survivors[1]}")
    l1=$(field .leader "$s1"); l2=$(field .leader "$s2"); t1=$(field .term "$s1"); t2=$(field .term "$s2")
    if [[ -n $l1 && $l1 != null && $l1 == "$l2" && $t1 == "$t2" && $l1 != "$leader" ]]; then new=$l1; newterm=$t2; break; fi
    sleep 0.05
  done
  seen=$(($(now_ms) - killed_at))
  [[ -n $new ]] || fail "no new leader agreed on within 15 s of killing $leader"
  ((newterm > term)) || fail "new leader $new has term $newterm, not above $term"
  stamp=$(grep "term $newterm: elected leader" "$TMP/$new.log" | tail -n 1 | cut -d' ' -f1)
  [[ -n $stamp ]] || fail "no election line for term $newterm in $new's log"
  elected_at=$(date -u -d "$(date -u +%F) $stamp" +%s%3N)
  elapsed=$((elected_at - killed_at))
  ((elapsed < 0)) && elapsed=$((elapsed + 86400000))
  echo "round $round: new leader $new term $newterm elected ${elapsed} ms after the kill (llctl saw it after ${seen} ms)"
  times+=("$elapsed")
  ((elapsed <= LIMIT_MS)) || fail "failover took ${elapsed} ms (limit ${LIMIT_MS} ms)"

  # The old leader comes back (same name, port and data directory) and follows.
  old=$leader
  start_daemon "$old" "$PEERS"
  read -r leader term < <(wait_converged 15 "${NAMES[@]}")
  [[ $leader == "$new" ]] || fail "after $old returned the leader is $leader, expected $new to stay"
  [[ $term == "$newterm" ]] || fail "the returning $old forced term $term (was $newterm)"
  s=$(status_json "$old")
  [[ $(field .role "$s") == follower ]] || fail "$old is $(field .role "$s") after returning"
  sleep 0.7
done
echo "failover times (ms): ${times[*]}"
echo "PASS"
