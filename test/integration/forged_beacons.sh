#!/usr/bin/env bash
# Forged beacons (issue 17, item 1), CURVE on: a three-daemon cluster listens for beacons while a forger on the LAN
# (here: loopback) beacons a stream of invented devices — a new name and endpoint as fast as it can send, some on
# ports nobody listens on, some on addresses nobody routes. A beacon is only a hint to greet over CURVE; it counts
# towards nothing until it answers, and hints are bounded, rate-limited and forgotten with their sockets. So:
#  - every daemon still knows exactly three members and the leader keeps its term throughout;
#  - the leader, killed during the storm, is replaced by one of the two others;
#  - no sockets pile up (each daemon's open descriptors after the storm stay near what they were before it).
# Pins: every beacon became a seed counted in the quorum, and a socket that was never closed.
source "$(dirname "$0")/lib/cluster.bash"

NAMES=(a b c)
assign_ports "${NAMES[@]}" beacon_a beacon_b beacon_c
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --beacon --beacon-port "${PORTS[beacon_$n]}"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
echo "cluster up: leader $leader, term $term"
fds() { ls "/proc/${PIDS[$1]}/fd" | wc -l; }
declare -A before
for n in "${NAMES[@]}"; do before[$n]=$(fds "$n"); done

forge() {  # forge STOPFILE: invented devices beaconed to every daemon's port, as fast as it can, until STOPFILE exists
  python3 - "$CLUSTER" "$1" "${PORTS[beacon_a]}" "${PORTS[beacon_b]}" "${PORTS[beacon_c]}" <<'PY'
import json, os, socket, sys
cluster, stop, ports = sys.argv[1], sys.argv[2], [int(p) for p in sys.argv[3:]]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i = 0
while i % 100 or not os.path.exists(stop):
    host = "127.0.0.1:%d" % (1 + i % 1000) if i % 2 else "10.255.%d.%d:7700" % (i // 250 % 250, i % 250)
    beacon = {"v": 1, "cluster": cluster, "name": "invented%d" % i, "endpoint": "tcp://" + host}
    for p in ports:
        s.sendto(b"LLB1 " + json.dumps(beacon).encode(), ("127.0.0.1", p))
    i += 1
print(i)
PY
}

forge "$TMP/stop1" >"$TMP/forged1.out" &
FORGER=$!
for n in "${NAMES[@]}"; do
  wait_for_log "$TMP/$n.log" "beacon hint(s) ignored" 20 || fail "$n logged no ignored hints: the beacons did not arrive"
done
out=$(converged "${NAMES[@]}") || fail "the cluster lost its shape during the storm: $(status_json a)"
[[ $out == "$leader $term" ]] || fail "leadership moved during the storm: $leader/$term -> $out"
touch "$TMP/stop1"
wait "$FORGER" || fail "forger failed"
echo "ok: $(cat "$TMP/forged1.out") invented devices beaconed; still 3 members, leader $leader in term $term"
out=$(converged "${NAMES[@]}") || fail "the cluster lost its shape after the storm: $(status_json a)"
[[ $out == "$leader $term" ]] || fail "leadership moved: $leader/$term -> $out"

# The leader dies while forgeries keep coming: one of the two others is elected.
forge "$TMP/stop2" >"$TMP/forged2.out" &
FORGER=$!
stop_daemon "$leader" KILL || true
survivors=()
for n in "${NAMES[@]}"; do [[ $n != "$leader" ]] && survivors+=("$n"); done
timeout 30 bash -c 'tail -n +1 -F "$1" "$2" 2>/dev/null | grep -q -m1 "elected leader"' _ \
  "$TMP/${survivors[0]}.log" "$TMP/${survivors[1]}.log" || fail "no new leader within 30 s of killing $leader"
winner=""
for n in "${survivors[@]}"; do grep -q "elected leader" "$TMP/$n.log" && winner=$n; done
s=$(status_json "$winner")
[[ $(field .role "$s") == leader && $(field .term "$s") -gt $term ]] || fail "$winner is not leader of a later term: $s"
echo "ok: $leader killed during the storm; $winner leads term $(field .term "$s")"
touch "$TMP/stop2"
wait "$FORGER" || fail "forger failed"

# Hints are at most 16 pending sockets, however many beacons came: count descriptors right after the storms.
for n in "${survivors[@]}"; do
  after=$(fds "$n")
  echo "$n: ${before[$n]} descriptors before, $after right after $(cat "$TMP/forged1.out") + $(cat "$TMP/forged2.out") forged beacons"
  ((after - before[$n] <= 64)) || fail "$n holds $((after - before[$n])) more descriptors: sockets pile up"
done
echo PASS
