#!/usr/bin/env bash
# Smoke test of the aarch64 daemon under qemu-user (run by scripts/test-arm64 with LL_BUILD_DIR pointing at the
# emulated build folder, whose bin/ wraps the aarch64 binaries in qemu-aarch64): `--version`, a daemon with CURVE keys
# starting and answering `llctl status` (plain and JSON: it is the leader of its one-member cluster), stories260K
# loaded onto it and a greedy generation through it equal to `llctl generate --local`, and exit 0 on SIGTERM.
source "$(dirname "$0")/../integration/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
v=$("$LLD" --version) || fail "lingualinkd --version failed"
[[ $v == "lingualinkd "* ]] || fail "lingualinkd --version printed '$v'"
echo "ok: $v"
assign_ports a
start_daemon a ""
# Under emulation libtorch's start-up and the compute profile take seconds, not milliseconds.
read -r leader term < <(wait_converged 300 a)
[[ $leader == a ]] || fail "expected a to lead itself, got '$leader'"
out=$("$LLCTL" --endpoint "$(endpoint a)" status) || fail "llctl status failed: $out"
echo "$out" | sed 's/^/  status: /'
grep -q 'a' <<<"$out" || fail "llctl status does not name the device"
echo "ok: llctl status answered (leader a, term $term)"
"$LLCTL" --endpoint "$(endpoint a)" load "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
got=$("$LLCTL" --endpoint "$(endpoint a)" generate --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
[[ -n $got && $got == "$want" ]] || fail "daemon generation differs from the local run: $got vs $want"
echo "ok: 60 greedy tokens through the aarch64 daemon equal its local run"
stop_daemon a TERM || fail "non-zero exit on SIGTERM"
echo "ok: exit 0 on SIGTERM"
