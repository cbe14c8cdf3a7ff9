#!/usr/bin/env bash
# The leader — which is also the head here (--head-on-leader), the device the client streams from — killed (SIGKILL) or frozen (SIGSTOP)
# mid-generation. A new leader is elected, takes over the model from the plan every device holds, re-plans over the
# survivors (devices keep what they hold; missing shards come from peers' stores), and `llctl --endpoint A,B,C`
# moves to the next endpoint and resumes with the tokens it already has. The output must equal the undisturbed
# local run, greedy and sampled. A frozen stage is treated as dead; on SIGCONT a deposed leader is fenced by the
# higher term and rejoins as a follower.
# Pins: a generation lost with its head; a new leader that cannot serve a model it did not load; two leaders.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
TOKENS=300

local_tokens() {  # local_tokens TEMPERATURE
  "$LLCTL" generate --local --model "$PKG" --json --speculate off --ignore-eos --max-tokens $TOKENS --temperature "$1" --seed 5 \
    "Once upon a time" | jq -c .tokens
}

# start_cluster BUDGET NAMES...: sets LEADER (no subshell: PIDS and PORTS must stay in this shell).
start_cluster() {
  local budget=$1 n
  shift
  assign_ports "$@"
  local peers
  peers=$(all_endpoints "$@")
  for n in "$@"; do
    start_daemon "$n" "$peers" --memory-budget "$budget" --emulate-speed 0.2 --no-rebalance --head-on-leader \
      --heartbeat-interval-ms 500 --heartbeat-timeout-ms 1500 --log-level debug
  done
  local term
  read -r LEADER term < <(wait_converged 20 "$@")
  "$LLCTL" --endpoint "$(endpoint "$LEADER")" load "$PKG" >"$TMP/load.out" 2>&1 || fail "load: $(cat "$TMP/load.out")"
}

# endpoints_from FIRST NAMES...: FIRST's endpoint, then the others'.
endpoints_from() {
  local first=$1 out n
  shift
  out=$(endpoint "$first")
  for n in "$@"; do [[ $n != "$first" ]] && out+=",$(endpoint "$n")"; done
  echo "$out"
}

# wait_head_position NAME: until daemon NAME's log shows a step of the ring ending at position 30..99 (the debug
# line of every computed step; the prompt is 5 tokens, so some 25 tokens are out). Woken by the write (tail -F).
wait_head_position() {
  wait_for_log "$TMP/$1.log" "computed session [0-9]* positions [0-9]*\.\.[3-9][0-9] (" 120
}

# lose_leader LABEL SIGNAL TEMPERATURE BUDGET NAMES...
lose_leader() {
  local label=$1 sig=$2 temp=$3 budget=$4
  shift 4
  local names=("$@") leader
  start_cluster "$budget" "${names[@]}"
  leader=$LEADER
  local plan
  plan=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json)
  [[ $(jq -r '.stages[0].device' <<<"$plan") == "$leader" ]] || fail "$label: the leader is not the head"
  echo "$label: plan $(jq -c '[.stages[] | {device, first_shard, last_shard}]' <<<"$plan"); $sig to leader $leader"
  "$LLCTL" --endpoint "$(endpoints_from "$leader" "${names[@]}")" generate --json --ignore-eos --max-tokens $TOKENS \
    --temperature "$temp" --seed 5 --stall-timeout 3 --speculate "${SPECULATE:-off}" "Once upon a time" \
    >"$TMP/gen-$label.json" 2>"$TMP/gen-$label.err" &
  local gen=$! t0
  # The kill comes once the head has computed position 30 (an event in its log), not after a guessed delay: a
  # speculating head can finish its tokens in less time than such a delay on a quiet machine.
  wait_head_position "$leader" || fail "$label: the head did not reach position 30: $(cat "$TMP/gen-$label.err")"
  t0=$(now_ms)
  if [[ $sig == KILL ]]; then stop_daemon "$leader" KILL || true; else kill -STOP "${PIDS[$leader]}"; fi
  wait $gen || fail "$label: the generation failed: $(cat "$TMP/gen-$label.err")"
  if [[ ${SPECULATE:-off} != off ]]; then
    jq -e '.speculation.drafted > 0' "$TMP/gen-$label.json" >/dev/null ||
      fail "$label: the new head drafted nothing: $(jq -c .speculation "$TMP/gen-$label.json")"
  fi
  echo "$label: completed $(($(now_ms) - t0)) ms after the $sig; time to resume (longest pause in the stream): $(jq .timings.longest_pause_s "$TMP/gen-$label.json") s; llctl said: $(grep -h 'resumed on' "$TMP/gen-$label.err")"
  grep -q "resumed on" "$TMP/gen-$label.err" || fail "$label: llctl did not resume: $(cat "$TMP/gen-$label.err")"
  [[ $(jq -c .tokens "$TMP/gen-$label.json") == "$(local_tokens "$temp")" ]] ||
    fail "$label: output differs from the local run"
  local other="" n
  for n in "${names[@]}"; do [[ $n != "$leader" ]] && { other=$n; break; }; done
  local new new_leader
  new_leader=$(field .leader "$(status_json "$other")")
  [[ -n ${PORTS[$new_leader]:-} ]] || fail "$label: no new leader ($new_leader)"
  new=$("$LLCTL" --endpoint "$(endpoint "$new_leader")" plan --json)
  jq -e --arg l "$leader" '[.stages[] | select(.device == $l)] | length == 0' <<<"$new" >/dev/null ||
    fail "$label: $leader is still in the plan"
  # Devices keep what they hold: one that runs a part of its old range again fetches nothing (the placement does
  # not weigh where files already are, so other devices may fetch; that is measured and printed).
  local fetched total kept
  fetched=$(jq '[.devices[] | .bytes_done - .bytes_from_cache] | add' <<<"$new")
  total=$(jq '[.devices[] | .bytes_total] | add' <<<"$new")
  kept=$(jq -n --argjson old "$plan" --argjson new "$new" '
    [$new.stages[] as $s | ($old.stages[] | select(.device == $s.device)) as $o
     | select($s.first_shard >= $o.first_shard and $s.last_shard <= $o.last_shard)
     | {device: $s.device, fetched: ([$new.devices[] | select(.device == $s.device) | .bytes_done - .bytes_from_cache] | add)}]')
  echo "ok: $label: identical to the local run; new leader $(jq -r '.stages[0].device' <<<"$new"), re-plan fetched $fetched of $total bytes; devices within their old range: $(jq -c . <<<"$kept")"
  jq -e 'all(.[]; .fetched == 0)' <<<"$kept" >/dev/null || fail "$label: a device fetched files it already held: $kept"
  if [[ $sig == STOP ]]; then
    kill -CONT "${PIDS[$leader]}"
    # The deposed leader wakes with a stale term: fenced, it follows the new leader.
    local deadline=$(($(now_ms) + 15000)) s
    while (($(now_ms) < deadline)); do
      s=$(status_json "$leader")
      [[ -n $s && $(field .role "$s") == follower && $(field .leader "$s") != "$leader" ]] && break
      sleep 0.2
    done
    [[ $(field .role "$s") == follower ]] || fail "$label: $leader did not step down after SIGCONT: $s"
    read -r l2 t2 < <(wait_converged 15 "${names[@]}")
    echo "ok: $label: after SIGCONT $leader follows $l2 (term $t2); one leader"
    "$LLCTL" --endpoint "$(endpoint "$l2")" generate --json --ignore-eos --max-tokens $TOKENS --temperature "$temp" \
      --seed 5 "Once upon a time" >"$TMP/again-$label.json" 2>"$TMP/again-$label.err" ||
      fail "$label: generation after SIGCONT: $(cat "$TMP/again-$label.err")"
    [[ $(jq -c .tokens "$TMP/again-$label.json") == "$(local_tokens "$temp")" ]] ||
      fail "$label: output after SIGCONT differs"
    echo "ok: $label: a generation after the rejoin is identical too"
  fi
  for n in "${names[@]}"; do [[ -n ${PIDS[$n]:-} ]] && stop_daemon "$n" KILL; done
  return 0
}

# SIGKILL of the leader/head, a spare device, greedy.
lose_leader kill-greedy KILL 0 860000B a b c d
# SIGKILL, no spare (the two survivors fit), temperature 0.8 with a seed, speculating (n-gram drafts): the client
# resumes on the new head, which drafts again; the text is still the local run's without speculation.
TOKENS=480 SPECULATE=ngram lose_leader kill-sampled-speculating KILL 0.8 1300000B e f g
# SIGSTOP of the leader/head: treated as dead; SIGCONT: fenced, rejoins as a follower.
lose_leader stop-leader STOP 0.8 860000B h i j k

# SIGSTOP of a middle stage (not the leader): treated as dead, the generation completes; SIGCONT: it rejoins.
names=(m n o p)
start_cluster 860000B "${names[@]}"
leader=$LEADER
victim=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq -r '.stages[1].device')
"$LLCTL" --endpoint "$(endpoint "$leader")" generate --json --ignore-eos --max-tokens $TOKENS --temperature 0.8 --seed 5 \
  "Once upon a time" >"$TMP/gen-stop.json" 2>"$TMP/gen-stop.err" &
gen=$!
sleep 1.5
t0=$(now_ms)
kill -STOP "${PIDS[$victim]}"
wait $gen || fail "stop-stage: the generation failed: $(cat "$TMP/gen-stop.err")"
echo "stop-stage: completed $(($(now_ms) - t0)) ms after SIGSTOP of $victim; time to resume: $(jq .timings.longest_pause_s "$TMP/gen-stop.json") s"
[[ $(jq -c .tokens "$TMP/gen-stop.json") == "$(local_tokens 0.8)" ]] || fail "stop-stage: output differs"
kill -CONT "${PIDS[$victim]}"
deadline=$(($(now_ms) + 15000))
while (($(now_ms) < deadline)); do
  state=$(devices_json "$leader" | jq -r --arg v "$victim" '.devices[] | select(.profile.name == $v) | .state' 2>/dev/null)
  [[ $state == alive ]] && break
  sleep 0.2
done
[[ $state == alive ]] || fail "stop-stage: $victim did not rejoin after SIGCONT (state $state)"
read -r l2 t2 < <(wait_converged 15 "${names[@]}")
echo "ok: stop-stage: identical output; after SIGCONT $victim is alive again, leader $l2 term $t2"
echo PASS
