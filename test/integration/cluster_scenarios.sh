#!/usr/bin/env bash
# scripts/cluster: a scenario's daemons come up (loopback mode: emulated speeds and uplinks), stories260K loaded
# over them generates exactly what the local run does, the leader sees the emulated links, `llctl load --policy`
# applies a peer rule, and `scripts/cluster stop` leaves no process behind. As root also netns mode: the tc tbf
# qdisc and the cgroup CPU quota and memory limit are read back from the kernel, and `stop` removes them — also
# after the start script was SIGKILLed halfway.
# Pins: emulation flags not reaching the daemons, the emulated link corrupting or reordering activations, a policy
# ignored, leaked daemons, namespaces, links or cgroups.
source "$(dirname "$0")/lib/cluster.bash"
CLUSTER_CMD="$LL_SOURCE_DIR/scripts/cluster"
PKG="$LL_BUILD_DIR/models/stories260K"
SCENARIO="$LL_SOURCE_DIR/config/scenarios/small-2.json"
STATE="$TMP/state"
stop_cluster() { "$CLUSTER_CMD" --state "$STATE" stop >/dev/null 2>&1 || true; }
trap 'stop_cluster; cleanup' EXIT

owned_daemons() { pgrep -f -- "--data-dir $STATE/" || true; }

# A malformed uplink is refused with one clear line.
rc=0; err=$("$LLD" --name x --emulate-egress 20Mbit 2>&1) || rc=$?
[[ $rc == 2 && $err == *"--emulate-egress"*"BANDWIDTH,LATENCY"* ]] || fail "bad --emulate-egress: rc $rc, '$err'"

# --- loopback -------------------------------------------------------------------------------------------------------
"$CLUSTER_CMD" --state "$STATE" start "$SCENARIO" --model "$PKG" --load --no-rebalance >"$TMP/start.out" 2>&1 \
  || { cat "$TMP/start.out"; fail "cluster start (loopback)"; }
export LL_KEYS="$STATE/keys"  # the cluster's CURVE keys, made by scripts/cluster
EP=$(awk '/^fast /{print $2}' "$TMP/start.out")
[[ -n $EP ]] || fail "no endpoint for 'fast' in: $(cat "$TMP/start.out")"
[[ $(owned_daemons | wc -l) == 2 ]] || fail "expected 2 daemons, found: $(owned_daemons)"
grep -q "emulating an uplink of 1.25 MB/s" "$STATE/logs/slow.log" || fail "slow's uplink (10Mbit) not emulated"
echo "ok: two daemons up from $SCENARIO"

# The leader plans with the emulated uplinks: slow -> fast is 10 Mbit/s (1.25 MB/s), 4 ms one way.
deadline=$(($(now_ms) + 15000))
while :; do
  links=$("$LLCTL" --endpoint "$EP" devices --json | jq -c '[.links[] | select(.from=="slow" and .to=="fast")][0]')
  [[ $(jq '.bandwidth_mbps <= 1.25 and .rtt_ms >= 8' <<<"$links") == true ]] && break
  (($(now_ms) < deadline)) || fail "emulated link not reported: $links"
  sleep 0.5
done
echo "ok: the emulated uplink is what the leader sees ($links)"

want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 120 "Once upon a time" | jq -c .tokens)
got=$("$LLCTL" --endpoint "$EP" generate --json --max-tokens 120 "Once upon a time" | jq -c .tokens)
[[ $got == "$want" ]] || fail "generation through the emulated links differs from the local run"
stages=$("$LLCTL" --endpoint "$EP" plan --json | jq '.stages | length')
[[ $stages == 2 ]] || fail "expected 2 stages, got $stages"
echo "ok: 120 tokens over 2 stages and emulated links identical to the local run"

# A peer rule, applied live: the equal split gives both devices the same number of shards (give or take one).
"$LLCTL" --endpoint "$EP" load "$PKG" --policy equal >"$TMP/eq.out" 2>&1 || fail "load --policy equal: $(cat "$TMP/eq.out")"
leader=$("$LLCTL" --endpoint "$EP" status --json | jq -r .leader)
plan=$("$LLCTL" --endpoint "$(awk -v n="$leader" '$1 == n {print $2}' "$TMP/start.out")" plan --json)
[[ $(jq -r .solver <<<"$plan") == "rule:equal split" ]] || fail "not the equal split: $(jq -c '{solver}' <<<"$plan")"
counts=$(jq -c '[.stages[] | .last_shard - .first_shard + 1]' <<<"$plan")
[[ $(jq '(.[0] - .[1]) | fabs <= 1' <<<"$counts") == true ]] || fail "equal split is not equal: $counts"
got=$("$LLCTL" --endpoint "$EP" generate --json --max-tokens 60 "Lily" | jq -c .tokens)
[[ $got == "$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 60 "Lily" | jq -c .tokens)" ]] \
  || fail "generation on the equal split differs from the local run"
"$LLCTL" --endpoint "$EP" load "$PKG" --policy fastest >/dev/null 2>&1 && fail "an unknown policy was accepted"
echo "ok: --policy equal applied ($counts shards), unknown policy refused by llctl"

"$CLUSTER_CMD" --state "$STATE" stop >/dev/null || fail "cluster stop"
[[ -z $(owned_daemons) ]] || fail "daemons left after stop: $(owned_daemons)"
[[ ! -e $STATE/state.json ]] || fail "state file left after stop"
echo "ok: stop left no daemon"

# --- netns (root) ---------------------------------------------------------------------------------------------------
if [[ $(id -u) != 0 ]] || ! ip netns add "llprobe$$" 2>/dev/null; then
  echo "SKIP netns part: needs root and network namespaces"
  echo "PASS"
  exit 0
fi
ip netns del "llprobe$$"

# Start, then SIGKILL the start script once the daemons are running (before it finishes waiting for them).
"$CLUSTER_CMD" --state "$STATE" start "$SCENARIO" --mode netns --model "$PKG" >"$TMP/netns.out" 2>&1 &
starter=$!
deadline=$(($(now_ms) + 30000))
until [[ $(jq '[.resources[] | select(.kind=="process")] | length' "$STATE/state.json" 2>/dev/null) == 2 ]]; do
  (($(now_ms) < deadline)) || { kill -9 $starter; fail "netns start did not reach its daemons: $(cat "$TMP/netns.out")"; }
  sleep 0.1
done
kill -9 $starter
wait $starter 2>/dev/null || true
state=$(cat "$STATE/state.json")
ns=$(jq -r '[.resources[] | select(.kind=="netns") | .name][1]' <<<"$state")
group=$(jq -r '[.resources[] | select(.kind=="cgroup") | .group][1]' <<<"$state")
dirs=$(jq -r '[.resources[] | select(.kind=="cgroup")][1].dirs[]' <<<"$state")
# The slow device: 10 Mbit/s uplink, half a CPU share (quota = 0.5 x cores x 10 ms period), budget + allowance.
dev=$(ip -n "$ns" -o link show type veth | awk -F': ' '{print $2}' | cut -d@ -f1)
qdisc=$(ip netns exec "$ns" tc qdisc show dev "$dev")
grep -q "tbf .*rate 10Mbit" <<<"$qdisc" || fail "no 10Mbit tbf on $ns/$dev: $qdisc"
read -r quota period limit < <(python3 -c "
import sys; sys.path.insert(0, '$LL_SOURCE_DIR/scripts')
from llbench.cluster import cgroup_layout, cgroup_read
print(*cgroup_read(cgroup_layout(), '$group'))")
[[ $quota == $(($(nproc) * period / 2)) ]] || fail "cgroup CPU quota $quota / $period for half of $(nproc) cores"
budget=$(python3 -c "
import sys; sys.path.insert(0, '$LL_SOURCE_DIR/scripts')
from llbench.cluster import load_scenario, RUNTIME_ALLOWANCE
print(load_scenario('$SCENARIO', '$PKG')['devices'][1]['memory_budget'] + RUNTIME_ALLOWANCE)")
# The kernel rounds memory limits to pages.
((limit <= budget && limit > budget - 4096)) || fail "cgroup memory limit $limit, want $budget"
slow_pid=$(jq -r '[.resources[] | select(.kind=="process")][1].pid' <<<"$state")
for d in $dirs; do grep -qx "$slow_pid" "$d/cgroup.procs" || fail "daemon $slow_pid not in $d"; done
echo "ok: netns limits applied ($qdisc; quota $quota/$period us; memory $limit B)"

"$CLUSTER_CMD" --state "$STATE" stop >"$TMP/stop.out" 2>&1 || fail "stop after SIGKILL: $(cat "$TMP/stop.out")"
[[ -z $(owned_daemons) ]] || fail "daemons left after stop: $(owned_daemons)"
for r in $(jq -r '.resources[] | select(.kind=="netns") | .name' <<<"$state"); do
  ip netns list | grep -qw "$r" && fail "namespace $r left behind"
done
for r in $(jq -r '.resources[] | select(.kind=="link") | .name' <<<"$state"); do
  ip link show "$r" >/dev/null 2>&1 && fail "link $r left behind"
done
for d in $(jq -r '.resources[] | select(.kind=="cgroup") | .dirs[]' <<<"$state"); do
  [[ -d $d ]] && fail "cgroup $d left behind"
done
echo "ok: stop after the start script was SIGKILLed removed daemons, namespaces, links and cgroups"
echo "PASS"
