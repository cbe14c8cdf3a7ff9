#!/usr/bin/env bash
# llctl against an endpoint where no daemon listens: one line naming the endpoint, non-zero exit, within 5 s.
# Pins: llctl hanging forever on a dead daemon, or a cryptic error.
source "$(dirname "$0")/lib/cluster.bash"
assign_ports nobody a
ep=$(endpoint nobody)
for cmd in status devices; do
  start=$(now_ms)
  if out=$("$LLCTL" --endpoint "$ep" $cmd 2>&1); then fail "llctl $cmd succeeded against nothing"; fi
  took=$(($(now_ms) - start))
  lines=$(printf '%s\n' "$out" | wc -l)
  [[ $lines == 1 ]] || fail "expected one line, got: $out"
  [[ $out == *"$ep"* ]] || fail "error does not name $ep: $out"
  ((took < 5000)) || fail "took $took ms"
  echo "llctl $cmd: '$out' after $took ms"
done
# A list of endpoints: the first reachable one answers.
start_daemon a ""
deadline=$(($(now_ms) + 10000))
until "$LLCTL" --endpoint "$ep,$(endpoint a)" status >/dev/null 2>&1; do
  (($(now_ms) < deadline)) || fail "llctl did not fall back to the second endpoint"
  sleep 0.2
done
echo "PASS"
