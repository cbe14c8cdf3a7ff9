#!/usr/bin/env bash
# Roles (docs/security.md, "Roles"), with CURVE on, against a three-daemon cluster that serves stories260K:
#  - a user's key (role client) may list devices and generate, but not load, set a device's speed or re-profile,
#    not take part in elections (a heartbeat claiming leadership, a vote request of a far later term), and gets
#    no plan or shard file through the deploy endpoint;
#  - an operator's key (role admin) may set a device's speed;
#  - a second device key cannot speak in a real device's name.
# Pins: any allow-listed key could send plans, set speeds and move the term (issue 17, item 2).
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"

# The identities, listed before the daemons start (they read authorized_keys once).
identity() {  # identity NAME ROLE: a keys folder $TMP/NAME whose key is allowed with ROLE
  "$LLCTL" keygen "$TMP/$1" --name "$1" --role "$2" >>"$KEYS/authorized_keys"
  grep '^public' "$KEYS/cluster.key" >"$TMP/$1/cluster.key"
}
identity user client
identity ops admin
identity intruder device
grep -q " user client$" "$KEYS/authorized_keys" || fail "keygen did not print the role"

NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS"; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
"$LLCTL" --endpoint "$(endpoint "$leader")" load "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
DEPLOY=$("$LLCTL" --endpoint "$(endpoint a)" devices --json | jq -r '.devices[] | select(.profile.name == "a") | .profile.deploy_endpoint')
echo "cluster up: leader $leader, term $term"

as() { local who=$1; shift; LL_KEYS="$TMP/$who" "$LLCTL" --endpoint "$(endpoint a)" "$@"; }

as user devices >/dev/null || fail "a client could not list devices"
out=$(as user load "$PKG" 2>&1) && fail "a client loaded a model"
grep -q "load needs the role admin; key user holds client" <<<"$out" || fail "unclear refusal of load: $out"
out=$(as user device b --emulate-speed 0.01 2>&1) && fail "a client set a device's speed"
grep -q "needs the role admin" <<<"$out" || fail "unclear refusal of set_speed: $out"
out=$(as user devices --refresh 2>&1) && fail "a client re-profiled the cluster"
as ops device b --emulate-speed 0.9 >/dev/null || fail "an admin could not set a device's speed"
echo "ok: client reads and is refused operator calls; admin may"

LL_KEYS="$TMP/user" LL_TARGET=$(endpoint a) LL_DEPLOY_TARGET="$DEPLOY" LL_CLUSTER=$CLUSTER \
  "$LL_BUILD_DIR/bin/test_net" "[.client_key]" >"$TMP/client-key.out" 2>&1 ||
  fail "client key: $(tail -n 30 "$TMP/client-key.out")"
LL_KEYS="$TMP/intruder" LL_TARGET=$(endpoint a) LL_CLUSTER=$CLUSTER LL_IMPERSONATE=b \
  "$LL_BUILD_DIR/bin/test_net" "[.impersonate]" >"$TMP/impersonate.out" 2>&1 ||
  fail "impersonation: $(tail -n 30 "$TMP/impersonate.out")"
grep -q "refused: heartbeat needs the role device; key user holds client" "$TMP/a.log" || fail "no log line for the client's heartbeat"
grep -q "refused heartbeat in the name of b from key intruder" "$TMP/a.log" || fail "no log line for the impersonation"
echo "ok: a client's peer messages and a second key's impersonation change no term"

read -r leader2 term2 < <(wait_converged 20 "${NAMES[@]}")
[[ $leader2 == "$leader" && $term2 == "$term" ]] || fail "leadership moved: $leader/$term -> $leader2/$term2"
want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
got=$(as user generate --json --max-tokens 60 "Once upon a time" | jq -c .tokens)
[[ $got == "$want" ]] || fail "the client's generation differs from the local run"
echo "ok: the client's generation equals the local run; leader $leader2 in term $term2 throughout"
echo PASS
