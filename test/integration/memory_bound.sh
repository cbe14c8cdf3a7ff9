#!/usr/bin/env bash
# Memory that the budget really bounds: three lingualinkd with budgets that force a three-way split of random512
# (150 MB), a load admitting 2 sessions, two generations at once; then each daemon's peak RSS (VmHWM, its whole life:
# start-up, load, generation) must be within 1.2 x (the shard bytes + KV cache it holds) + 150 MB. Before the daemon
# configured glibc's allocator and released start-up's pages, each peaked 30-50 MB above that.
source "$(dirname "$0")/lib/cluster.bash"
PKG="$LL_BUILD_DIR/models/random512"
[[ -f $PKG/manifest.json ]] || fail "no random512 model in $PKG (scripts/make-test-models)"
NAMES=(a b c)
assign_ports "${NAMES[@]}"
PEERS=$(all_endpoints "${NAMES[@]}")
# The model with KV for 2 sessions needs 206 MB: three devices of 80 MB each, not two.
for n in "${NAMES[@]}"; do start_daemon "$n" "$PEERS" --memory-budget 80MB --threads 2; done
read -r leader term < <(wait_converged 30 "${NAMES[@]}")
EP=$(endpoint a)
"$LLCTL" --endpoint "$EP" load --max-sessions 2 "$PKG" >"$TMP/load.out" 2>&1 || { cat "$TMP/load.out"; fail "llctl load"; }
"$LLCTL" --endpoint "$(endpoint "$leader")" plan --json >"$TMP/plan.json" || fail "llctl plan"
stages=$(jq '.stages | length' "$TMP/plan.json")
[[ $stages == 3 ]] || fail "expected a three-stage plan, got $stages"

for prompt in "Once upon a time" "The dog"; do
  ( "$LLCTL" --endpoint "$EP" generate --max-tokens 100 --ignore-eos "$prompt" >"$TMP/gen-${prompt// /_}.out" 2>&1 \
      || echo failed >>"$TMP/gen-${prompt// /_}.out" ) &
done
wait $(jobs -p | grep -v -w "$(printf '%s\n' "${PIDS[@]}")") 2>/dev/null || true
! grep -q '^failed$' "$TMP"/gen-*.out || fail "a generation failed: $(cat "$TMP"/gen-*.out)"

# Each daemon reports its resident memory beside its budget (`llctl devices`), as of its last profile.
for n in "${NAMES[@]}"; do
  row=$(devices_json a | jq -c --arg n "$n" '.devices[] | select(.profile.name == $n) | .profile | {rss, peak_rss, memory_budget}')
  [[ $(jq '.rss > 0 and .peak_rss >= .rss' <<<"$row") == true ]] || fail "$n reports no resident memory: $row"
done
"$LLCTL" --endpoint "$EP" devices | grep -q "RSS / PEAK" || fail "llctl devices shows no RSS column"
echo "ok: every daemon reports its RSS and peak beside its budget"

for n in "${NAMES[@]}"; do grep VmHWM "/proc/${PIDS[$n]}/status" | awk -v n="$n" '{print n, $2 * 1024}'; done >"$TMP/hwm.txt"
python3 - "$PKG/manifest.json" "$TMP/plan.json" "$TMP/hwm.txt" 2 <<'PY' || fail "a daemon's peak RSS is over its bound"
import json, sys
manifest = json.load(open(sys.argv[1]))
plan = json.load(open(sys.argv[2]))
peak = {name: int(v) for name, v in (line.split() for line in open(sys.argv[3]))}
sessions = int(sys.argv[4])
context = manifest["hyperparameters"]["context_length"]
over = 0
for stage in plan["stages"]:
    shards = manifest["shards"][stage["first_shard"]:stage["last_shard"] + 1]
    weights = sum(s["bytes"] for s in shards)
    kv = sum(s["kv_bytes_per_token"] for s in shards) * context * sessions
    bound = 1.2 * (weights + kv) + 150e6
    hwm = peak[stage["device"]]
    ok = hwm <= bound
    over += not ok
    print(f"{'ok' if ok else 'FAIL'}: {stage['device']} holds shards {stage['first_shard']}..{stage['last_shard']}: "
          f"{weights / 1e6:.1f} MB of weights + {kv / 1e6:.1f} MB of KV; peak RSS {hwm / 1e6:.1f} MB, bound "
          f"{bound / 1e6:.1f} MB ({(hwm - bound) / 1e6:+.1f} MB)")
sys.exit(1 if over else 0)
PY
