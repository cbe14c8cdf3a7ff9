#!/usr/bin/env bash
# A device gone for good (issue 17, item 7), CURVE on: four daemons lose two for good. Dead members rightly stay in
# the quorum (3 of 4), so the two left cannot elect; `llctl device NAME --remove` (role admin) on a dead device makes
# every live member stop counting it, and the two elect a leader again. Removing a live device, or with a client's
# key, is refused with one line and changes nothing.
source "$(dirname "$0")/lib/cluster.bash"

"$LLCTL" keygen "$TMP/user" --name user --role client >>"$KEYS/authorized_keys"
grep '^public' "$KEYS/cluster.key" >"$TMP/user/cluster.key"

NAMES=(a b c d)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
echo "cluster up: leader $leader, term $term"

out=$("$LLCTL" --endpoint "$(endpoint a)" device b --remove 2>&1) && fail "a live device was removed"
grep -q "b is alive: only a dead device can be removed" <<<"$out" || fail "unclear refusal for a live device: $out"

stop_daemon c KILL || true
stop_daemon d KILL || true
for n in a b; do
  for gone in c d; do
    wait_for_log "$TMP/$n.log" "member $gone: .* -> dead" 20 || fail "$n did not see $gone dead"
  done
done
s=$(status_json a)
[[ $(field .members_known "$s") == 4 && $(field .quorum "$s") == 3 ]] || fail "unexpected quorum before removal: $s"

out=$(LL_KEYS="$TMP/user" "$LLCTL" --endpoint "$(endpoint a)" device c --remove 2>&1) && fail "a client removed a device"
grep -q "needs the role admin" <<<"$out" || fail "unclear refusal for a client: $out"
out=$("$LLCTL" --endpoint "$(endpoint a)" device nobody --remove 2>&1) && fail "an unknown device was removed"
grep -q "no device named 'nobody'" <<<"$out" || fail "unclear refusal for an unknown name: $out"

for gone in c d; do
  "$LLCTL" --endpoint "$(endpoint a)" device "$gone" --remove >"$TMP/remove-$gone.out" 2>&1 ||
    fail "removing $gone: $(cat "$TMP/remove-$gone.out")"
  [[ $(grep -c "removed $gone" "$TMP/remove-$gone.out") == 2 ]] || fail "not removed on both: $(cat "$TMP/remove-$gone.out")"
done
for n in a b; do
  for gone in c d; do grep -q "removed device $gone .*at an operator's request" "$TMP/$n.log" || fail "$n logged no removal of $gone"; done
done
read -r leader2 term2 < <(wait_converged 20 a b)
echo "ok: after removing c and d, a and b elected $leader2 in term $term2"
s=$(status_json a)
[[ $(field .members_known "$s") == 2 && $(field .quorum "$s") == 2 ]] || fail "unexpected quorum after removal: $s"
echo PASS
