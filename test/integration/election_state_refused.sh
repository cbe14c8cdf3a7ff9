#!/usr/bin/env bash
# A corrupt or absurd DATA_DIR/election.json stops lingualinkd at start with exit 1 and one line naming the file and
# what to do; a sound one is restored and elections go on from it (docs/cluster.md, "Terms and their bound").
# Pins: a term at the old limit (2^53) read from disk and bricking elections; a corrupt file read as term 0.
source "$(dirname "$0")/lib/cluster.bash"
assign_ports a
DATA="$TMP/a.data"
STATE="$DATA/election.json"
mkdir -p "$DATA"

expect_refused() {  # expect_refused WHAT FILE-CONTENTS
  local what=$1 rc=0 out
  printf '%s' "$2" >"$STATE"
  out=$(timeout 20 "$LLD" --name a --cluster "$CLUSTER" --listen "$(endpoint a)" --data-dir "$DATA" --keys "$KEYS" \
    --no-beacon --profile-seconds 0 2>&1) || rc=$?
  [[ $rc == 1 ]] || fail "$what: exit $rc, expected 1: $out"
  local lines
  lines=$(grep -c "election state $STATE: " <<<"$out" || true)
  [[ $lines == 1 ]] || fail "$what: expected one line naming $STATE: $out"
  grep -q "will not start: restore the file, or delete it" <<<"$out" || fail "$what: no advice: $out"
  echo "$what: refused: $(grep -o "election state .*" <<<"$out" | cut -c1-160)…"
}

expect_refused "term at the old limit 2^53" '{"term": 9007199254740992, "voted_for": "b"}'
expect_refused "term over 2^39" '{"term": 549755813889, "voted_for": ""}'
expect_refused "negative term" '{"term": -5, "voted_for": ""}'
expect_refused "truncated file" '{"term": 12, "vot'
expect_refused "empty file" ''

# A sound file: restored, and the daemon (alone: a quorum of one) elects itself in the next term.
printf '{"term": 41, "voted_for": "b"}\n' >"$STATE"
start_daemon a ""
wait_for_log "$TMP/a.log" "restored term 41, voted for b" 20 || fail "term 41 not restored"
wait_for_log "$TMP/a.log" "term 42: elected leader" 20 || fail "no election in term 42"
[[ $(jq .term "$STATE") == 42 ]] || fail "term 42 not persisted: $(cat "$STATE")"
stop_daemon a TERM || fail "non-zero exit on SIGTERM"
echo "term 41 restored, leader in term 42"
