#!/usr/bin/env bash
# A daemon of another protocol version (test_net's [.other_version] fake: it answers everything with its refusal):
# llctl exits non-zero with one line naming the endpoint and both versions, and a real daemon seeded with it logs
# the refusal of its hellos in one line, once, however often it says hello.
# Pins: a cryptic or misleading error between versions ("this daemon speaks..." printed by llctl), a log line per
# heartbeat for a peer that will never answer in our version.
source "$(dirname "$0")/lib/cluster.bash"
ours=$(sed -n 's/.*kProtocolVersion = \([0-9]*\);.*/\1/p' "$LL_SOURCE_DIR/src/proto/limits.h")
[[ -n $ours ]] || fail "kProtocolVersion not found in src/proto/limits.h"
theirs=$((ours + 1))  # the fake's version
assign_ports future a
LL_LISTEN=$(endpoint future) LL_ANSWERS=12 "$LL_BUILD_DIR/bin/test_net" "[.other_version]" >"$TMP/future.out" 2>&1 &
PIDS[future]=$!
wait_for_log "$TMP/future.out" '^listening' 10 || fail "the fake daemon did not listen: $(cat "$TMP/future.out")"

ep=$(endpoint future)
for cmd in status devices; do
  rc=0
  out=$(timeout 10 "$LLCTL" --endpoint "$ep" $cmd 2>&1) || rc=$?
  [[ $rc != 0 ]] || fail "llctl $cmd succeeded against a daemon of another version: $out"
  [[ $(printf '%s\n' "$out" | wc -l) == 1 ]] || fail "llctl $cmd: more than one line: $out"
  [[ $out == *"$ep"*"'future' speaks lingualinked protocol version $theirs, this program speaks version $ours"* ]] ||
    fail "llctl $cmd: unclear error: $out"
  echo "llctl $cmd: $out"
done

# A daemon whose seed is the fake: its hellos (and heartbeats, votes) are refused in the next version, six times or
# more here; one log line says so.
start_daemon a "$ep"
wait_for_log_count "$TMP/future.out" '^answered' 8 20 ||
  fail "daemon a did not send its seed 6 messages: $(cat "$TMP/future.out")"
lines=$(grep -c "refused message (unsupported_version): 'future' speaks lingualinked protocol version $theirs" "$TMP/a.log")
[[ $lines == 1 ]] || fail "expected the refusal logged once, got $lines lines: $(grep unsupported "$TMP/a.log")"
echo "daemon log: $(grep -o "refused message (unsupported_version).*" "$TMP/a.log")"
[[ $("$LLCTL" --endpoint "$(endpoint a)" devices --json | jq '[.devices[] | select(.profile.name == "future")] | length') == 0 ]] ||
  fail "the other version became a member"
stop_daemon a TERM || fail "non-zero exit on SIGTERM"
echo "PASS"
