#!/usr/bin/env bash
# An HTTP completion survives the loss of its head stage: four daemons (a spare device), HTTP served by a follower;
# the leader — which is the head here (--head-on-leader) — is killed (SIGKILL) mid-stream. The HTTP server sees the connection drop, waits
# for the new plan, resumes on the new head with the tokens it already streamed, and the client gets one unbroken
# answer equal to the undisturbed local run (greedy and sampled), with no error event.
# Pins: a generation lost with its head when it came through HTTP.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
TOKENS=300

# lose_head LABEL TEMPERATURE NAMES...
lose_head() {
  local label=$1 temp=$2
  shift 2
  local names=("$@") n
  assign_ports "${names[@]}"
  local peers http_ports
  peers=$(all_endpoints "${names[@]}")
  http_ports=($(free_ports ${#names[@]}))
  declare -A http=()
  local i=0
  for n in "${names[@]}"; do
    http[$n]=${http_ports[$i]}
    i=$((i + 1))
    start_daemon "$n" "$peers" --memory-budget 860000B --emulate-speed 0.2 --no-rebalance --head-on-leader \
      --heartbeat-interval-ms 500 --heartbeat-timeout-ms 1500 --http "127.0.0.1:${http[$n]}"
  done
  local leader term server=""
  read -r leader term < <(wait_converged 20 "${names[@]}")
  "$LLCTL" --endpoint "$(endpoint "$leader")" load "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
  [[ $("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq -r '.stages[0].device') == "$leader" ]] ||
    fail "$label: the leader is not the head"
  for n in "${names[@]}"; do [[ $n != "$leader" ]] && { server=$n; break; }; done
  local url="http://127.0.0.1:${http[$server]}/v1/completions"
  curl -sN --max-time 90 "$url" -H 'Content-Type: application/json' \
    -d "{\"model\":\"stories260K\",\"prompt\":\"Once upon a time\",\"max_tokens\":$TOKENS,\"temperature\":$temp,\"seed\":5,\"stream\":true}" \
    >"$TMP/stream-$label" &
  local client=$! t0
  sleep 1.5
  grep -q '^data: {' "$TMP/stream-$label" || fail "$label: the stream had not started"
  t0=$(now_ms)
  stop_daemon "$leader" KILL || true
  wait $client || fail "$label: curl failed"
  grep -q '"error"' "$TMP/stream-$label" && fail "$label: error event: $(grep '"error"' "$TMP/stream-$label")"
  tail -n 2 "$TMP/stream-$label" | grep -q '^data: \[DONE\]' || fail "$label: no [DONE]"
  local got want
  got=$(grep '^data: {' "$TMP/stream-$label" | sed 's/^data: //' | jq -j '.choices[0].text // ""')
  want=$("$LLCTL" generate --local --model "$PKG" --json --max-tokens $TOKENS --temperature "$temp" --seed 5 \
    "Once upon a time" | jq -j .text)
  [[ $got == "$want" ]] || fail "$label: the resumed answer differs from the local run:
  http:  $got
  local: $want"
  grep -q "http: resumed on" "$TMP/$server.log" || fail "$label: $server did not log a resume"
  echo "ok: $label: HTTP stream on $server survived SIGKILL of head $leader ($(grep -o 'resumed on .*' "$TMP/$server.log" | head -1)); done $(($(now_ms) - t0)) ms after the kill, text = local run"
  for n in "${names[@]}"; do [[ -n ${PIDS[$n]:-} ]] && stop_daemon "$n" KILL; done
  return 0
}

lose_head greedy 0 a b c d
lose_head sampled 0.8 e f g h
