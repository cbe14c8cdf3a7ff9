#!/usr/bin/env bash
# The data folder with real daemons: a second lingualinkd pointed at a folder another one holds refuses to start
# (exit 1, one line naming the holder's pid) while the first keeps serving, and gets it once the first has exited; a
# data folder that group or others may write to, or that another user owns, is refused at start.
# Pins: two daemons overwriting one election state and one shard store; a data folder another local user can write.
source "$(dirname "$0")/lib/cluster.bash"
assign_ports a b

start_daemon a ""
wait_for_log "$TMP/a.log" "data folder $TMP/a.data: election term and vote, shard cache" 20 ||
  fail "a did not start on its data folder"

b_args() { echo --name b --cluster "$CLUSTER" --listen "$(endpoint b)" --keys "$KEYS" --no-beacon --profile-seconds 0; }
second() { timeout 20 "$LLD" $(b_args) --data-dir "$1"; }  # daemon b on folder $1, in the foreground
rc=0
out=$(second "$TMP/a.data" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "a second daemon on a's folder: exit $rc, expected 1: $out"
# (stderr also holds the "CURVE on" line from before the refusal)
[[ $(tail -n 1 <<<"$out") == "lingualinkd: data folder $TMP/a.data is in use by another lingualinkd (pid ${PIDS[a]})" ]] ||
  fail "unclear refusal: $out"
echo "second daemon refused: $(tail -n 1 <<<"$out")"
[[ $(field .self "$(status_json a)") == a ]] || fail "a stopped answering after the refusal"

# Once a is gone (however it ends: the kernel drops the lock), the folder is free.
stop_daemon a KILL || true
"$LLD" $(b_args) --data-dir "$TMP/a.data" >>"$TMP/b.log" 2>&1 &
PIDS[b]=$!
wait_for_log "$TMP/b.log" "listening on" 20 || fail "b did not start on the folder a left"
stop_daemon b TERM || fail "b: non-zero exit on SIGTERM"
echo "the folder is free once its holder has exited"

mkdir -m 0777 "$TMP/open.data"
chmod 0777 "$TMP/open.data"  # whatever the umask
rc=0
out=$(second "$TMP/open.data" 2>&1) || rc=$?
[[ $rc == 1 && $(tail -n 1 <<<"$out") == "lingualinkd: data folder $TMP/open.data is writable by group or others"* ]] ||
  fail "a world-writable data folder: exit $rc: $out"
[[ ! -e $TMP/open.data/lock ]] || fail "a lock file was made in the refused folder"
echo "world-writable folder refused: $(tail -n 1 <<<"$out")"

# A folder another user made (as root the test can make one: nobody's).
if [[ $EUID == 0 ]]; then
  mkdir -m 0700 "$TMP/theirs.data"
  chown 65534 "$TMP/theirs.data"
  rc=0
  out=$(second "$TMP/theirs.data" 2>&1) || rc=$?
  [[ $rc == 1 && $(tail -n 1 <<<"$out") == "lingualinkd: data folder $TMP/theirs.data belongs to uid 65534, not to this user (uid 0): refusing it" ]] ||
    fail "another user's data folder: exit $rc: $out"
  echo "another user's folder refused: $(tail -n 1 <<<"$out")"
fi
echo "PASS"
