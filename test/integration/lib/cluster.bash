# Helpers for integration tests that run real lingualinkd daemons on loopback. Source it; it installs a trap that
# kills every daemon it started (by pid, never by name) and removes its temporary directory.
set -u

LL_BUILD_DIR=${LL_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../build" && pwd)}
LL_SOURCE_DIR=${LL_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
LLD="$LL_BUILD_DIR/bin/lingualinkd"
LLCTL="$LL_BUILD_DIR/bin/llctl"
TMP=$(mktemp -d /tmp/ll-it-XXXXXX)
CLUSTER="it$$"
# A daemon started without --data-dir by a non-root test keeps its state under the test's folder, not in ~/.local
# (as root the default is /var/lib/lingualinked/NAME: tests that run daemons pass --data-dir under $TMP).
export XDG_STATE_HOME="$TMP/state"
# Every test cluster runs with CURVE: one keys folder shared by its daemons and by llctl (LL_KEYS). A test that
# wants the clear sets LL_TEST_INSECURE=1 before sourcing this file.
KEYS="$TMP/keys"
if [[ ${LL_TEST_INSECURE:-0} != 1 ]]; then
  "$LL_BUILD_DIR/bin/llctl" keygen "$KEYS" --cluster --authorize --name test-cluster --role device,admin >/dev/null
  export LL_KEYS="$KEYS"
else
  unset LL_KEYS
fi
declare -A PIDS=()   # name -> pid
declare -A PORTS=()  # name -> port

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${LL_KEEP_LOGS:-0} == 1 ]]; then echo "logs kept in $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$TMP"/*.log; do [[ -f $f ]] && { echo "--- $f (tail)" >&2; tail -n 25 "$f" >&2; }; done
  exit 1
}

now_ms() { date +%s%3N; }

# free_ports N: N distinct free TCP ports on 127.0.0.1 (held together while chosen, then released), all below the
# kernel's ephemeral range: a daemon binds its data and deploy endpoints to a port the kernel picks (":0") from
# that range, and a port chosen here from it could be taken that way before the test's own daemon binds it (seen
# in CI: b's data plane took the port chosen for its HTTP API).
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
low = max(20000, int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]))
socks = []
for port in random.sample(range(10000, low), low - 10000):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    socks.append(s)
    if len(socks) == int(sys.argv[1]):
        break
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# assign_ports NAME...: gives each name a free port.
assign_ports() {
  local ports=($(free_ports $#)) i=0 name
  for name in "$@"; do PORTS[$name]=${ports[$i]}; i=$((i + 1)); done
}

endpoint() { echo "tcp://127.0.0.1:${PORTS[$1]}"; }

all_endpoints() {
  local out="" name
  for name in "$@"; do out+="${out:+,}$(endpoint "$name")"; done
  echo "$out"
}

# start_daemon NAME PEERS [EXTRA ARGS...]: starts one daemon in the background (log in $TMP/NAME.log). Its head
# decodes one token per step (--speculate off) unless the test passes --speculate or a --config: tests written
# around one-token steps (traces, calibration windows, kills after N tokens) keep what they test, and the tests of
# speculative decoding ask for it per generation (llctl generate --speculate) or per daemon.
start_daemon() {
  local name=$1 peers=$2 speculate=(--speculate off)
  shift 2
  [[ " $* " == *" --speculate "* || " $* " == *" --config "* ]] && speculate=()
  "$LLD" --name "$name" --cluster "$CLUSTER" --listen "$(endpoint "$name")" ${peers:+--peers "$peers"} \
    --data-dir "$TMP/$name.data" ${LL_KEYS:+--keys "$LL_KEYS"} --profile-seconds "${PROFILE_SECONDS:-0.02}" --no-beacon \
    "${speculate[@]}" "$@" >>"$TMP/$name.log" 2>&1 &
  PIDS[$name]=$!
}

stop_daemon() {  # stop_daemon NAME SIGNAL
  local name=$1 sig=${2:-TERM} rc=0
  kill "-$sig" "${PIDS[$name]}" 2>/dev/null || true
  wait "${PIDS[$name]}" 2>/dev/null || rc=$?
  unset "PIDS[$name]"
  return $rc
}

# status_json NAME: llctl status --json against that daemon (empty on failure).
status_json() { "$LLCTL" --endpoint "$(endpoint "$1")" status --json 2>/dev/null || true; }
devices_json() { "$LLCTL" --endpoint "$(endpoint "$1")" devices --json 2>/dev/null || true; }

field() { jq -r "$1" 2>/dev/null <<<"$2"; }

# converged NAME...: every named daemon reports the same leader (one of them, itself a leader) and term, and knows
# exactly as many members as were named. Prints "leader term" on success.
converged() {
  local leader="" term="" name s l t k
  for name in "$@"; do
    s=$(status_json "$name")
    [[ -n $s ]] || return 1
    l=$(field .leader "$s"); t=$(field .term "$s"); k=$(field .members_known "$s")
    [[ -n $l && $l != null && $k == "$#" ]] || return 1
    if [[ -z $leader ]]; then leader=$l; term=$t; elif [[ $l != "$leader" || $t != "$term" ]]; then return 1; fi
  done
  [[ -n ${PIDS[$leader]:-} ]] || return 1
  echo "$leader $term"
}

# wait_for_log FILE PATTERN TIMEOUT_S: returns 0 once a line of FILE (there already, or written later) matches the
# grep PATTERN — woken by the write itself (tail -F), not by polling — or non-zero after TIMEOUT_S. timeout(1) runs
# it in its own process group, so the tail goes with it either way.
wait_for_log() {
  timeout "$3" bash -c 'tail -n +1 -F "$1" 2>/dev/null | { grep -q -m1 -- "$2"; rc=$?; pkill -P $$ -x tail; exit $rc; }' \
    _ "$1" "$2"
}

# wait_for_log_count FILE PATTERN N TIMEOUT_S: as wait_for_log, once N lines match.
wait_for_log_count() {
  timeout "$4" bash -c 'tail -n +1 -F "$1" 2>/dev/null | { [[ $(grep -m "$3" -c -- "$2") == "$3" ]]; rc=$?; pkill -P $$ -x tail; exit $rc; }' \
    _ "$1" "$2" "$3"
}

# wait_converged TIMEOUT_S NAME...: prints "leader term" or fails the test.
wait_converged() {
  local timeout=$1 out
  shift
  local deadline=$(($(now_ms) + timeout * 1000))
  while (($(now_ms) < deadline)); do
    if out=$(converged "$@"); then echo "$out"; return 0; fi
    sleep 0.1
  done
  fail "daemons $* did not converge within ${timeout}s"
}
