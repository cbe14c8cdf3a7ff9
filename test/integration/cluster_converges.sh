#!/usr/bin/env bash
# Five daemons converge: every one reports the same leader, term and member list. Four are seeded with each other;
# the fifth knows only one of them and learns the rest by gossip.
# Pins: members disagreeing on the leader, or a member missing from someone's view.
source "$(dirname "$0")/lib/cluster.bash"

NAMES=(a b c d e)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints a b c d)
for n in a b c d; do start_daemon "$n" "$PEERS"; done
start_daemon e "$(endpoint a)"

read -r leader term < <(wait_converged 20 "${NAMES[@]}")
echo "converged: leader $leader term $term"

# Same member list everywhere, with profiles filled in.
expected=$(printf '%s\n' "${NAMES[@]}" | sort | tr '\n' ' ')
for n in "${NAMES[@]}"; do
  d=$(devices_json "$n")
  got=$(jq -r '.devices[].profile.name' <<<"$d" | sort | tr '\n' ' ')
  [[ $got == "$expected" ]] || fail "$n sees members '$got', expected '$expected'"
  [[ $(jq -r '.leader' <<<"$d") == "$leader" ]] || fail "$n sees another leader"
  alive=$(jq '[.devices[] | select(.state == "alive" or .state == "self")] | length' <<<"$d")
  [[ $alive == 5 ]] || fail "$n sees $alive alive devices"
  budget=$(jq '[.devices[] | select(.profile.memory_budget > 0)] | length' <<<"$d")
  [[ $budget == 5 ]] || fail "$n lacks memory budgets: $d"
done

# Links get measured (RTT and bandwidth) within a few heartbeats.
deadline=$(($(now_ms) + 10000))
while true; do
  d=$(devices_json a)
  measured=$(jq '[.links[] | select(.from == "a" and .rtt_ms > 0 and .bandwidth_mbps > 0)] | length' <<<"$d")
  [[ $measured == 4 ]] && break
  (($(now_ms) < deadline)) || fail "a measured only $measured of 4 links: $d"
  sleep 0.2
done
"$LLCTL" --endpoint "$(endpoint a)" devices --refresh >/dev/null || fail "devices --refresh failed"
"$LLCTL" --endpoint "$(endpoint a)" devices
"$LLCTL" --endpoint "$(endpoint a)" status
echo "PASS"
