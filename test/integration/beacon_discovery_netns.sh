#!/usr/bin/env bash
# Two daemons with no seed list find each other by UDP beacons alone, each in its own network namespace joined by a
# veth pair, and agree on a leader. Needs root (ip netns); otherwise skipped with the reason printed.
# Pins: beacons not sent on real interfaces, beacons not received, or discovered peers not joining the quorum.
source "$(dirname "$0")/lib/cluster.bash"

skip() { echo "SKIP: $*"; exit 0; }
[[ $(id -u) == 0 ]] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "no 'ip' command"

NS_A="llA$$"; NS_B="llB$$"; VETH_A="lva$$"; VETH_B="lvb$$"
netns_cleanup() {
  ip netns del "$NS_A" 2>/dev/null || true
  ip netns del "$NS_B" 2>/dev/null || true
}
trap 'cleanup; netns_cleanup' EXIT

ip netns add "$NS_A" 2>/dev/null || skip "cannot create a network namespace (no CAP_SYS_ADMIN?)"
ip netns add "$NS_B" || skip "cannot create a second network namespace"
ip link add "$VETH_A" type veth peer name "$VETH_B" 2>/dev/null || skip "cannot create a veth pair"
ip link set "$VETH_A" netns "$NS_A"
ip link set "$VETH_B" netns "$NS_B"
ip -n "$NS_A" addr add 10.77.0.1/24 brd + dev "$VETH_A"
ip -n "$NS_B" addr add 10.77.0.2/24 brd + dev "$VETH_B"
for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up

EP_A=tcp://10.77.0.1:7700
EP_B=tcp://10.77.0.2:7700
for side in A B; do
  ns_var="NS_$side"; ep_var="EP_$side"; name=$(tr 'AB' 'ab' <<<"$side")
  ip netns exec "${!ns_var}" "$LLD" --name "$name" --cluster "$CLUSTER" --listen "${!ep_var}" \
    --data-dir "$TMP/$name.data" --profile-seconds 0.02 --beacon-port 7701 >>"$TMP/$name.log" 2>&1 &
  PIDS[$name]=$!
done

ns_status() { ip netns exec "$1" "$LLCTL" --endpoint "$2" status --json 2>/dev/null || true; }
deadline=$(($(now_ms) + 30000))
while true; do
  sa=$(ns_status "$NS_A" "$EP_A"); sb=$(ns_status "$NS_B" "$EP_B")
  la=$(field .leader "$sa"); lb=$(field .leader "$sb")
  ka=$(field .members_known "$sa"); kb=$(field .members_known "$sb")
  if [[ $ka == 2 && $kb == 2 && -n $la && $la != null && $la == "$lb" ]]; then break; fi
  (($(now_ms) < deadline)) || fail "no convergence by beacons: a=$sa b=$sb"
  sleep 0.3
done
grep -qh "beacon from tcp://10.77.0" "$TMP/a.log" "$TMP/b.log" || fail "no daemon logged a discovery by beacon"
echo "both daemons found each other by beacons; leader $la"
ip netns exec "$NS_A" "$LLCTL" --endpoint "$EP_A" devices
echo "PASS"
