#!/usr/bin/env bash
# llctl generate --trace with real daemons on loopback: three lingualinkd whose memory budgets force a three-way
# split of stories260K. The trace file is a Chrome trace-event document in which every step has a computing event
# on every stage, the stages in ring order, no duration negative, one process per stage named after its device; the
# text is the text of the same run without --trace; stderr has the one-line summary. A trace file that cannot be
# written is refused before generating, in one line, with a non-zero exit; so is --trace with --local.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/stories260K"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# KV for 8 sessions and 2800000 B each: no two devices hold the model with that KV, three do (as in
# pipeline_three_daemons.sh).
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 2800000B; done
read -r leader term < <(wait_converged 20 "${NAMES[@]}")
EP=$(endpoint a)

"$LLCTL" --endpoint "$EP" load --max-sessions 8 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
grep -q "ready: every stage" "$TMP/load.out" || fail "load did not finish: $(cat "$TMP/load.out")"
stages=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq '.stages | length')
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"
devices=$("$LLCTL" --endpoint "$(endpoint "$leader")" plan --json | jq -c '[.stages[].device]')

# A path that cannot be written: one line, non-zero, and no generation (the head never admits a session).
rc=0
"$LLCTL" --endpoint "$EP" generate --trace "$TMP/no-such-dir/t.json" --max-tokens 5 "Once" >"$TMP/bad.out" 2>"$TMP/bad.err" || rc=$?
((rc != 0)) || fail "an unwritable trace file was accepted"
[[ $(wc -l <"$TMP/bad.err") == 1 ]] || fail "not one line: $(cat "$TMP/bad.err")"
grep -q "cannot write the trace to $TMP/no-such-dir/t.json" "$TMP/bad.err" || fail "unclear error: $(cat "$TMP/bad.err")"
[[ ! -s "$TMP/bad.out" ]] || fail "generated despite the bad trace file: $(cat "$TMP/bad.out")"
grep -q "admitted" "$TMP/a.log" && fail "the head admitted a session for a refused --trace"
rc=0
"$LLCTL" generate --local --model "$PKG" --trace "$TMP/local.json" "Once" >/dev/null 2>"$TMP/local.err" || rc=$?
((rc != 0)) && [[ $(wc -l <"$TMP/local.err") == 1 ]] || fail "--trace with --local: rc $rc, $(cat "$TMP/local.err")"
echo "ok: an unwritable trace file and --trace with --local are refused in one line before generating"

args=(--max-tokens 40 --temperature 0.8 --seed 11 "Once upon a time")
"$LLCTL" --endpoint "$EP" generate "${args[@]}" >"$TMP/plain.out" 2>"$TMP/plain.err" || fail "generate: $(cat "$TMP/plain.err")"
"$LLCTL" --endpoint "$(endpoint c)" generate --trace "$TMP/trace.json" "${args[@]}" >"$TMP/traced.out" 2>"$TMP/traced.err" \
  || fail "generate --trace: $(cat "$TMP/traced.err")"
cmp -s "$TMP/plain.out" "$TMP/traced.out" || fail "--trace changed the text: $(head -c 200 "$TMP/traced.out")"
tokens=$("$LLCTL" --endpoint "$EP" generate --json "${args[@]}" | jq '.tokens | length')
((tokens > 2)) || fail "only $tokens tokens"
grep -q "^llctl: trace: $((tokens - 1)) decode steps, .* ms per token = compute .*(stage 0 .*, stage 1 .*, stage 2 .*) + queued .* + sending .* + link and wait .*; written to $TMP/trace.json$" \
  "$TMP/traced.err" || fail "no one-line summary on stderr: $(cat "$TMP/traced.err")"
echo "ok: the text with --trace is the text without it ($tokens tokens), and stderr has the summary"

/usr/bin/python3 - "$TMP/trace.json" "$tokens" "$devices" <<'PY' || fail "the trace file is not what it should be"
import json, sys
from collections import defaultdict
doc = json.load(open(sys.argv[1]))
want_steps, devices = int(sys.argv[2]), json.loads(sys.argv[3])
events = doc["traceEvents"]
names = {e["pid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
assert names == {i + 1: f"stage {i}: {d}" for i, d in enumerate(devices)}, names
complete = [e for e in events if e["ph"] == "X"]
assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in complete), "a negative duration or time"
assert all({"step", "batch", "token"} <= set(e["args"]) for e in complete), "args without step, batch or token"
computing = defaultdict(dict)
for e in complete:
    if e["name"] == "computing":
        computing[e["args"]["step"]][e["pid"]] = e
assert sorted(computing) == list(range(want_steps)), f"steps {sorted(computing)}, want {want_steps}"
for step, by_stage in computing.items():
    assert sorted(by_stage) == [1, 2, 3], f"step {step}: computing on stages {sorted(by_stage)}"
    starts = [by_stage[p]["ts"] for p in (1, 2, 3)]
    ends = [by_stage[p]["ts"] + by_stage[p]["dur"] for p in (1, 2, 3)]
    assert all(ends[i] <= starts[i + 1] for i in range(2)), f"step {step}: stages out of ring order {starts}"
    assert by_stage[1]["dur"] > 0 and by_stage[3]["dur"] > 0, f"step {step}: a stage computed in no time"
    assert len({by_stage[p]["args"]["token"] for p in (1, 2, 3)}) == 1
for name in ("queued", "sending", "link and wait"):
    assert any(e["name"] == name for e in complete), f"no {name} events"
print(f"trace: {len(complete)} events over {len(computing)} steps")
PY
echo "ok: every step has a computing event on every stage, in ring order, no negative duration, processes named after devices"
