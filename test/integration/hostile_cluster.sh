#!/usr/bin/env bash
# A three-daemon cluster (CURVE on) under attack, then asked for a normal generation:
#  - a client with an unknown key, on the control and the data port: refused, with a log line naming the key;
#  - garbage bytes on every port (raw TCP to the control and data ports, UDP to the beacon port);
#  - an authenticated but hostile client: malformed control messages, an oversized frame, a tensor whose shape
#    disagrees with its byte count, dims that overflow, a prompt over the limit, a file nobody announced;
#  - a model package whose manifest names "../" files.
# Each is refused with a log line; the daemons keep serving (the generation equals the local run) and their memory
# does not grow over repeated rounds.
# Pins: trusting peers (llama.cpp RPC's record), a crash or leak on hostile input, a silent refusal.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"

NAMES=(a b c)
assign_ports "${NAMES[@]}" lone beacon
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 860000B; done
# One more daemon listens for beacons (on a port of its own) so that UDP garbage has a target.
"$LLD" --name lone --cluster "lone$$" --listen "$(endpoint lone)" --data-dir "$TMP/lone.data" --keys "$KEYS" \
  --profile-seconds 0.02 --beacon-port "${PORTS[beacon]}" >>"$TMP/lone.log" 2>&1 &
PIDS[lone]=$!
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
"$LLCTL" --endpoint "$(endpoint "$leader")" load "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
DATA=$("$LLCTL" --endpoint "$(endpoint a)" devices --json | jq -r '.devices[] | select(.profile.name == "a") | .profile.data_endpoint')
[[ $DATA == tcp://* ]] || fail "no data endpoint for a"
DEPLOY=$("$LLCTL" --endpoint "$(endpoint a)" devices --json | jq -r '.devices[] | select(.profile.name == "a") | .profile.deploy_endpoint')
[[ $DEPLOY == tcp://* ]] || fail "no deploy endpoint for a"
echo "cluster up: leader $leader; a: control $(endpoint a), data $DATA, deploy $DEPLOY"

# A stranger: the right cluster public key, a device key nobody allowed.
STRANGER="$TMP/stranger"
"$LLCTL" keygen "$STRANGER" --name stranger >/dev/null
grep '^public' "$KEYS/cluster.key" >"$STRANGER/cluster.key"

garbage_tcp() {  # garbage_tcp HOST:PORT COUNT
  python3 - "$1" "$2" <<'PY'
import os, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
for i in range(int(sys.argv[2])):
    s = socket.create_connection((host, int(port)), timeout=2)
    try:
        s.sendall(os.urandom(64 + i % 2000) if i % 3 else b"\xff" + b"\x00" * 8 + b"\x7f" + os.urandom(300))
    except OSError:
        pass
    s.close()
PY
}
garbage_udp() {  # garbage_udp PORT COUNT
  python3 - "$1" "$2" <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(os.urandom(1 + i % 1400), ("127.0.0.1", int(sys.argv[1])))
PY
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/${PIDS[$1]}/status"; }

EVIL="$TMP/evil-package"
cp -r "$PKG" "$EVIL"
jq '.shards[1].file = "../../etc/passwd"' "$PKG/manifest.json" >"$EVIL/manifest.json"

round() {
  LL_KEYS="$STRANGER" "$LLCTL" --endpoint "$(endpoint a)" status >/dev/null 2>&1 && fail "a stranger was answered"
  LL_KEYS="$STRANGER" LL_DATA_TARGET="$DATA" "$LL_BUILD_DIR/bin/test_net" "[.stranger_data]" >"$TMP/stranger.out" 2>&1 ||
    fail "stranger on the data plane: $(tail -n 20 "$TMP/stranger.out")"
  LL_KEYS="$STRANGER" LL_DATA_TARGET="$DEPLOY" "$LL_BUILD_DIR/bin/test_net" "[.stranger_data]" >"$TMP/stranger.out" 2>&1 ||
    fail "stranger on the deploy endpoint: $(tail -n 20 "$TMP/stranger.out")"
  garbage_tcp "${DATA#tcp://}" 60
  garbage_tcp "${DEPLOY#tcp://}" 60
  garbage_tcp "$(endpoint a | sed 's|tcp://||')" 60
  garbage_udp "${PORTS[beacon]}" 200
  LL_TARGET=$(endpoint a) LL_CLUSTER=$CLUSTER "$LL_BUILD_DIR/bin/test_net" "[.hostile]" >"$TMP/hostile.out" 2>&1 ||
    fail "hostile control cases: $(tail -n 30 "$TMP/hostile.out")"
  LL_DATA_TARGET="$DATA" "$LL_BUILD_DIR/bin/test_net" "[.hostile_data]" >"$TMP/hostile-data.out" 2>&1 ||
    fail "hostile data cases: $(tail -n 30 "$TMP/hostile-data.out")"
  # The deploy endpoint decodes the same messages: the same cases get the same answers there.
  LL_DATA_TARGET="$DEPLOY" "$LL_BUILD_DIR/bin/test_net" "[.hostile_data]" >"$TMP/hostile-deploy.out" 2>&1 ||
    fail "hostile deploy cases: $(tail -n 30 "$TMP/hostile-deploy.out")"
  local out
  out=$("$LLCTL" --endpoint "$(endpoint "$leader")" load "$EVIL" 2>&1) && fail "a manifest with ../ was loaded"
  grep -q "unsafe file name" <<<"$out" || fail "unclear refusal of ../: $out"
}

round  # warm-up: first-use allocations are not growth
sleep 1
declare -A before
for n in "${NAMES[@]}" lone; do before[$n]=$(rss_kb "$n"); done
for _ in 1 2 3; do round; done
sleep 1
for n in "${NAMES[@]}" lone; do
  kill -0 "${PIDS[$n]}" 2>/dev/null || fail "$n died"
  after=$(rss_kb "$n")
  echo "$n: RSS ${before[$n]} kB -> $after kB after 3 more rounds"
  ((after - before[$n] < 8192)) || fail "$n grew by $((after - before[$n])) kB"
done

grep -q "refused a control connection.*key .* is not in the allow-list" "$TMP/a.log" || fail "no log line for the unknown key"
grep -q "refused a data connection.*is not in the allow-list" "$TMP/a.log" || fail "no log line for the unknown key on the data port"
grep -q "refused a data connection" "$TMP/a.log" || fail "no log line for garbage on the data port"
grep -Eq "refused a control connection.*(handshake|mechanism|malformed)" "$TMP/a.log" || fail "no log line for garbage on the control port"
grep -q "refused to load .*unsafe file name" "$TMP/$leader.log" || fail "no log line for the ../ manifest"
grep -q "refused a beacon" "$TMP/lone.log" || fail "no log line for UDP garbage on the beacon port"
echo "log lines: $(grep -c 'refused' "$TMP/a.log") refusals on a (rate-limited per reason and address)"

want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 200 "Once upon a time" | jq -c .tokens)
got=$("$LLCTL" --endpoint "$(endpoint b)" generate --json --max-tokens 200 "Once upon a time" | jq -c .tokens)
[[ $got == "$want" ]] || fail "the generation after the attacks differs from the local run"
echo "ok: a normal generation afterwards equals the local run"
echo PASS
